import { afterAll, describe, expect, it } from "vitest";
import { inspectToken } from "./inspect-token.js";
import { mintToken } from "./mint-token.js";
import { sshString } from "./ssh-wire.js";
import { decodeSshsig, encodeSshsig } from "./sshsig.js";
import {
  exposedText,
  run,
  sandboxErrorOf,
  scratchDir,
  sshKeygenKey,
  sshKeygenSign,
  sshKeygenToken,
  tokenBlob,
} from "./token-test-support.js";
import { verifyToken } from "./verify-token.js";

const { dir, cleanup } = scratchDir("token-verify");
afterAll(cleanup);

const key = sshKeygenKey(dir, "ed25519");
const other = sshKeygenKey(dir, "ed25519");
const NOW = 1_800_000_000;

/** Replaces the payload part of a token, keeping its signature. */
function withPayload(token: string, payload: string): string {
  const [prefix, , signature] = token.split(".");
  return `${prefix}.${Buffer.from(payload).toString("base64url")}.${signature}`;
}

/** Replaces the signature part of a token. */
function withBlob(token: string, blob: Uint8Array): string {
  const [prefix, payload] = token.split(".");
  return `${prefix}.${payload}.${Buffer.from(blob).toString("base64url")}`;
}

/** Asserts an `auth_failed` error whose visible text leaks neither the token nor key material. */
function expectRefused(
  token: string,
  publicKey: string,
  options: Parameters<typeof verifyToken>[2],
  reason: RegExp,
) {
  const error = sandboxErrorOf(() => verifyToken(token, publicKey, options));
  expect(error.code).toBe("auth_failed");
  expect(error.message).toMatch(reason);
  const text = exposedText(error);
  for (const part of token.split(".").slice(1)) expect(text).not.toContain(part.slice(0, 16));
  expect(text).not.toContain(publicKey.split(" ")[1]?.slice(0, 24));
}

describe("tokens signed by ssh-keygen", () => {
  it("verifies an Ed25519 signature made by ssh-keygen -Y sign (sha512)", () => {
    const payload = JSON.stringify({ exp: NOW + 60, cmds: ["ls", "new"], ctx: { who: "ci" } });
    const token = sshKeygenToken(key.path, payload);
    const info = verifyToken(token, key.publicKey, { nowSeconds: NOW });
    expect(info.permissions).toEqual({ exp: NOW + 60, cmds: ["ls", "new"], ctx: { who: "ci" } });
    expect(info.namespace).toBe("v0@exe.dev");
    expect(info.hashAlgorithm).toBe("sha512");
    expect(info.publicKey).toBe(key.publicKey.split(" ").slice(0, 2).join(" "));
    const listed = run("ssh-keygen", ["-l", "-E", "sha256", "-f", `${key.path}.pub`]).stdout;
    expect(info.fingerprint).toBe(listed.split(" ")[1]);
  });

  it("verifies a sha256-hashed signature (ssh-keygen -O hashalg=sha256)", () => {
    const payload = '{"cmds":["ls"]}';
    const result = run(
      "ssh-keygen",
      ["-q", "-Y", "sign", "-O", "hashalg=sha256", "-f", key.path, "-n", "v0@exe.dev"],
      payload,
    );
    expect(result.status).toBe(0);
    const blob = Buffer.from(result.stdout.trim().split("\n").slice(1, -1).join(""), "base64");
    const token = `exe0.${Buffer.from(payload).toString("base64url")}.${blob.toString("base64url")}`;
    expect(verifyToken(token, key.publicKey).hashAlgorithm).toBe("sha256");
  });

  it("verifies the token an ssh-keygen Ed25519 key mints identically in TypeScript", () => {
    const payload = JSON.stringify({ exp: 4102444800, cmds: ["ssh"] });
    const token = sshKeygenToken(key.path, payload);
    expect(mintToken({ privateKey: key.privateKey, permissions: JSON.parse(payload) })).toBe(token);
  });

  it("verifies RSA (rsa-sha2-512) and ECDSA signatures made by ssh-keygen", () => {
    const keys = [
      sshKeygenKey(dir, "rsa", { bits: 2048 }),
      sshKeygenKey(dir, "ecdsa", { bits: 256 }),
      sshKeygenKey(dir, "ecdsa", { bits: 384 }),
      sshKeygenKey(dir, "ecdsa", { bits: 521 }),
    ];
    for (const signer of keys) {
      for (let i = 0; i < 4; i++) {
        const token = sshKeygenToken(signer.path, JSON.stringify({ ctx: i }));
        expect(verifyToken(token, signer.publicKey).permissions).toEqual({ ctx: i });
        expectRefused(token, key.publicKey, {}, /different key/);
      }
    }
  });

  it("verifies VM-scoped tokens only under their own namespace", () => {
    const token = sshKeygenToken(key.path, "{}", "v0@myvm.exe.xyz");
    expect(verifyToken(token, key.publicKey, { namespace: "v0@myvm.exe.xyz" }).namespace).toBe(
      "v0@myvm.exe.xyz",
    );
    expectRefused(token, key.publicKey, {}, /namespace "v0@myvm.exe.xyz", not "v0@exe.dev"/);
    expectRefused(token, key.publicKey, { namespace: "v0@othervm.exe.xyz" }, /namespace/);
  });
});

describe("verification failures are auth_failed", () => {
  const token = mintToken({ privateKey: key.privateKey, permissions: { exp: NOW + 60, nbf: NOW - 60 } });

  it("accepts the token inside its validity window, boundaries included", () => {
    expect(verifyToken(token, key.publicKey, { nowSeconds: NOW }).permissions).toEqual({
      exp: NOW + 60,
      nbf: NOW - 60,
    });
    expect(() => verifyToken(token, key.publicKey, { nowSeconds: NOW + 60 })).not.toThrow();
    expect(() => verifyToken(token, key.publicKey, { nowSeconds: NOW + 60.9 })).not.toThrow();
    expect(() => verifyToken(token, key.publicKey, { nowSeconds: NOW - 60 })).not.toThrow();
  });

  it("refuses expired and not-yet-valid tokens", () => {
    expectRefused(token, key.publicKey, { nowSeconds: NOW + 61 }, /expired/);
    expectRefused(token, key.publicKey, { nowSeconds: NOW - 61 }, /not valid before/);
    // The real clock: this token expired in 2001.
    const old = mintToken({ privateKey: key.privateKey, permissions: { exp: 1_000_000_000 } });
    expectRefused(old, key.publicKey, undefined, /expired/);
  });

  it("refuses a token signed by another key", () => {
    expectRefused(token, other.publicKey, { nowSeconds: NOW }, /different key/);
    const error = sandboxErrorOf(() => verifyToken(token, other.publicKey, { nowSeconds: NOW }));
    expect(error.details.fingerprint).toBe(inspectToken(token).fingerprint);
  });

  it("refuses a tampered payload", () => {
    const tampered = withPayload(token, JSON.stringify({ exp: NOW + 6000, nbf: NOW - 60 }));
    expect(inspectToken(tampered).permissions.exp).toBe(NOW + 6000);
    expectRefused(tampered, key.publicKey, { nowSeconds: NOW }, /signature is not valid/);
  });

  it("refuses a tampered signature", () => {
    const blob = tokenBlob(token);
    for (const offset of [blob.length - 1, blob.length - 40]) {
      const copy = Buffer.from(blob);
      copy[offset]! ^= 0x01;
      expectRefused(withBlob(token, copy), key.publicKey, { nowSeconds: NOW }, /signature is not valid/);
    }
  });

  it("refuses a signature whose namespace was rewritten", () => {
    const signed = sshKeygenSign(key.path, "{}", "v0@myvm.exe.xyz");
    const rewritten = Buffer.from(
      signed.toString("latin1").replace("v0@myvm.exe.xyz", "v0@abcd.exe.xyz"),
      "latin1",
    );
    const forged = `exe0.${Buffer.from("{}").toString("base64url")}.${rewritten.toString("base64url")}`;
    expectRefused(forged, key.publicKey, { namespace: "v0@abcd.exe.xyz" }, /signature is not valid/);
  });

  it("refuses ssh-rsa (SHA-1) signatures from RSA keys", () => {
    const rsa = sshKeygenKey(dir, "rsa", { bits: 2048 });
    const good = mintToken({ privateKey: rsa.privateKey });
    const { publicKey, signature } = decodeSshsig(tokenBlob(good));
    const renamed = Buffer.concat([sshString("ssh-rsa"), sshString(signature.bytes)]);
    const blob = encodeSshsig(publicKey.blob, "v0@exe.dev", "sha512", renamed);
    expectRefused(withBlob(good, blob), rsa.publicKey, {}, /ssh-rsa \(SHA-1\)/);
  });

  it("refuses a signature whose algorithm does not match the key", () => {
    const good = mintToken({ privateKey: key.privateKey });
    const { publicKey, signature } = decodeSshsig(tokenBlob(good));
    const renamed = Buffer.concat([sshString("ecdsa-sha2-nistp256"), sshString(signature.bytes)]);
    const blob = encodeSshsig(publicKey.blob, "v0@exe.dev", "sha512", renamed);
    expectRefused(withBlob(good, blob), key.publicKey, {}, /does not belong to a ssh-ed25519 key/);
  });
});

describe("verifyToken input checks are invalid_argument", () => {
  const token = mintToken({ privateKey: key.privateKey });

  it("rejects malformed public keys", () => {
    for (const publicKey of [
      "",
      "ssh-ed25519",
      "ssh-ed25519 !!!!",
      "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA==",
      5,
    ]) {
      const error = sandboxErrorOf(() => verifyToken(token, publicKey as string));
      expect(error.code).toBe("invalid_argument");
      expect(error.message).toMatch(/publicKey/);
    }
    const [type, base64] = key.publicKey.split(" ");
    const mislabelled = `ecdsa-sha2-nistp256 ${base64}`;
    expect(sandboxErrorOf(() => verifyToken(token, mislabelled)).code).toBe("invalid_argument");
    expect(() => verifyToken(token, `  ${type} ${base64}  `)).not.toThrow();
  });

  it("rejects bad options", () => {
    expect(sandboxErrorOf(() => verifyToken(token, key.publicKey, { namespace: "" })).code).toBe(
      "invalid_argument",
    );
    expect(sandboxErrorOf(() => verifyToken(token, key.publicKey, { nowSeconds: Number.NaN })).code).toBe(
      "invalid_argument",
    );
  });

  it("rejects structurally broken tokens, without quoting them", () => {
    const [, payload, signature] = token.split(".") as [string, string, string];
    const blob = tokenBlob(token);
    const version2 = Buffer.from(blob);
    version2.writeUInt32BE(2, 6);
    const trailing = Buffer.concat([blob, Buffer.of(0)]);
    const parsed = decodeSshsig(blob);
    const signatureField = Buffer.concat([
      sshString(parsed.signature.algorithm),
      sshString(parsed.signature.bytes),
    ]);
    const sha384 = encodeSshsig(parsed.publicKey.blob, "v0@exe.dev", "sha384" as never, signatureField);
    const cases: Array<[unknown, RegExp]> = [
      [42, /token must be a string/],
      ["", /exe0\./],
      [`exe1.${payload}.${signature}`, /exe0\./],
      [`exe0.${payload}`, /exe0\.<payload>\.<signature>/],
      [`exe0.${payload}.${signature}.extra`, /signature is not valid base64url/],
      [`exe0.${payload}=.${signature}`, /payload is not valid base64url/],
      [`exe0.${payload}.${signature}=`, /signature is not valid base64url/],
      // Standard base64's own characters, at a fixed place: re-encoding a random signature as
      // base64 only sometimes produces one (about 1 run in 60 it equals the base64url form).
      [
        `exe0.${payload}.${signature.slice(0, 20)}+${signature.slice(21)}`,
        /signature is not valid base64url/,
      ],
      [
        `exe0.${payload}.${signature.slice(0, 20)}/${signature.slice(21)}`,
        /signature is not valid base64url/,
      ],
      [`exe0.${payload}.`, /SSHSIG/],
      [withBlob(token, version2), /version 2/],
      [withBlob(token, trailing), /extra bytes/],
      [withBlob(token, blob.subarray(0, 100)), /truncated/],
      [withBlob(token, sha384), /hash algorithm/],
      [` ${token}`, /exe0\./],
    ];
    for (const [bad, message] of cases) {
      for (const run of [
        () => verifyToken(bad as string, key.publicKey),
        () => inspectToken(bad as string),
      ]) {
        const error = sandboxErrorOf(run);
        expect(error.code).toBe("invalid_argument");
        expect(error.message).toMatch(message);
        expect(exposedText(error)).not.toContain(signature.slice(0, 16));
      }
    }
  });

  it("rejects an empty namespace inside the signature", () => {
    const { publicKey } = decodeSshsig(tokenBlob(token));
    const signature = Buffer.concat([sshString("ssh-ed25519"), sshString(Buffer.alloc(64))]);
    const blob = encodeSshsig(publicKey.blob, "", "sha512", signature);
    const error = sandboxErrorOf(() => inspectToken(withBlob(token, blob)));
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toMatch(/namespace is empty/);
  });

  it("rejects key types it cannot verify", () => {
    const dss = Buffer.concat([sshString("ssh-dss"), sshString(Buffer.alloc(20, 1))]);
    const signature = Buffer.concat([sshString("ssh-dss"), sshString(Buffer.alloc(40))]);
    const blob = encodeSshsig(dss, "v0@exe.dev", "sha512", signature);
    expect(sandboxErrorOf(() => inspectToken(withBlob(token, blob))).message).toMatch(/ssh-dss key; only/);
  });
});

describe("inspectToken", () => {
  it("reads a token without its key, and without checking signature or time", () => {
    const expired = mintToken({
      privateKey: key.privateKey,
      permissions: { exp: 1_000_000_000, cmds: ["ls"] },
      namespace: "v0@vm1.exe.xyz",
    });
    const info = inspectToken(expired);
    expect(info.permissions).toEqual({ exp: 1_000_000_000, cmds: ["ls"] });
    expect(info.namespace).toBe("v0@vm1.exe.xyz");
    expect(info.publicKey).toBe(key.publicKey.split(" ").slice(0, 2).join(" "));
    expect(inspectToken(withPayload(expired, '{"cmds":["rm"]}')).permissions).toEqual({ cmds: ["rm"] });
  });
});
