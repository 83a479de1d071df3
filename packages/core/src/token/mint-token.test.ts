import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { utils } from "ssh2";
import { afterAll, describe, expect, it } from "vitest";
import { generateSshKeyPair } from "../ssh/key-pair.js";
import { inspectToken } from "./inspect-token.js";
import { mintToken } from "./mint-token.js";
import {
  exposedText,
  type KeyFiles,
  run,
  sandboxErrorOf,
  scratchDir,
  shellRecipeToken,
  sshKeygenKey,
  sshKeygenVerify,
  tokenBlob,
  tokenPayload,
} from "./token-test-support.js";
import { verifyToken } from "./verify-token.js";

const { dir, cleanup } = scratchDir("token-mint");
afterAll(cleanup);

const ed25519 = sshKeygenKey(dir, "ed25519");
const HOUR = 3600;
const now = Math.floor(Date.now() / 1000);

/** Whether OpenSSH accepts the token's signature for `key` under `namespace`. */
function opensshAccepts(token: string, key: KeyFiles | string, namespace = "v0@exe.dev") {
  const publicKey = typeof key === "string" ? key : key.publicKey;
  return sshKeygenVerify(dir, tokenPayload(token), tokenBlob(token), publicKey, namespace);
}

/** Base64 lines of a PEM or OpenSSH private key: what must never leak into an error. */
function keyMaterial(privateKey: string): string[] {
  return privateKey.split("\n").filter((line) => line.length > 20 && !line.startsWith("-----"));
}

describe("mintToken output", () => {
  it("has the form exe0.<base64url payload>.<base64url SSHSIG>, unpadded, with compact JSON", () => {
    const permissions = {
      exp: now + HOUR,
      cmds: ["new", "ls", "rm", "ssh", "cp"],
      ctx: { job: 42, tags: ["a"] },
    };
    const token = mintToken({ privateKey: ed25519.privateKey, permissions });
    expect(token).toMatch(/^exe0\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(tokenPayload(token).toString("utf8")).toBe(JSON.stringify(permissions));
    const blob = tokenBlob(token);
    expect(blob.subarray(0, 6).toString("latin1")).toBe("SSHSIG");
    expect(blob.readUInt32BE(6)).toBe(1);
    expect(blob.length).toBe(180); // Ed25519 under "v0@exe.dev" [reference 4.6]
  });

  it("defaults to an empty payload and the v0@exe.dev namespace, hashed with sha512", () => {
    const token = mintToken({ privateKey: ed25519.privateKey });
    expect(tokenPayload(token).toString("utf8")).toBe("{}");
    const info = inspectToken(token);
    expect(info).toMatchObject({ permissions: {}, namespace: "v0@exe.dev", hashAlgorithm: "sha512" });
  });

  it("leaves out fields set to undefined and writes fields in a fixed order", () => {
    const token = mintToken({
      privateKey: ed25519.privateKey,
      permissions: { ctx: 1, cmds: ["ls"], nbf: undefined, exp: 4102444800 },
    });
    expect(tokenPayload(token).toString("utf8")).toBe('{"exp":4102444800,"cmds":["ls"],"ctx":1}');
  });

  it("names the signer's OpenSSH public key and fingerprint", () => {
    const info = inspectToken(mintToken({ privateKey: ed25519.privateKey }));
    const [type, base64] = ed25519.publicKey.split(" ");
    expect(info.publicKey).toBe(`${type} ${base64}`);
    const listed = run("ssh-keygen", ["-l", "-E", "sha256", "-f", `${ed25519.path}.pub`]).stdout;
    expect(listed.split(" ")[1]).toBe(info.fingerprint);
  });
});

describe("interoperability with OpenSSH", () => {
  it("is accepted by ssh-keygen -Y verify, and refused there under another namespace", () => {
    const token = mintToken({
      privateKey: ed25519.privateKey,
      permissions: { exp: now + HOUR, cmds: ["ls"] },
    });
    const good = opensshAccepts(token, ed25519);
    expect(good.output).toMatch(/Good "v0@exe.dev" signature/);
    expect(good.ok).toBe(true);
    expect(opensshAccepts(token, ed25519, "v0@other.exe.xyz").ok).toBe(false);
    const stranger = sshKeygenKey(dir, "ed25519");
    expect(opensshAccepts(token, stranger).ok).toBe(false);
  });

  it("is byte-identical to the documented shell recipe (Ed25519 signatures are deterministic)", () => {
    const permissions = { exp: 4102444800, nbf: 946684800, cmds: ["new", "ls", "share set-public"] };
    const minted = mintToken({ privateKey: ed25519.privateKey, permissions });
    expect(minted).toBe(shellRecipeToken(ed25519.path, JSON.stringify(permissions)));
    const vm = mintToken({ privateKey: ed25519.privateKey, permissions, namespace: "v0@myvm.exe.xyz" });
    expect(vm).toBe(shellRecipeToken(ed25519.path, JSON.stringify(permissions), "v0@myvm.exe.xyz"));
    expect(mintToken({ privateKey: ed25519.privateKey, permissions })).toBe(minted);
  });

  it("signs VM-scoped tokens under v0@<vm>.exe.xyz", () => {
    const token = mintToken({ privateKey: ed25519.privateKey, namespace: "v0@myvm.exe.xyz" });
    expect(opensshAccepts(token, ed25519, "v0@myvm.exe.xyz").ok).toBe(true);
    expect(opensshAccepts(token, ed25519, "v0@exe.dev").ok).toBe(false);
    expect(inspectToken(token).namespace).toBe("v0@myvm.exe.xyz");
  });

  it("signs with RSA keys using rsa-sha2-512, in OpenSSH and traditional PEM form", () => {
    for (const key of [
      sshKeygenKey(dir, "rsa", { bits: 2048 }),
      sshKeygenKey(dir, "rsa", { format: "PEM" }),
    ]) {
      const token = mintToken({ privateKey: key.privateKey, permissions: { cmds: ["ls"] } });
      expect(tokenBlob(token).includes(Buffer.from("rsa-sha2-512"))).toBe(true);
      expect(opensshAccepts(token, key).ok).toBe(true);
      expect(verifyToken(token, key.publicKey).publicKey.startsWith("ssh-rsa ")).toBe(true);
    }
  });

  it("signs with ECDSA nistp256, nistp384 and nistp521 keys", () => {
    for (const bits of [256, 384, 521]) {
      const key = sshKeygenKey(dir, "ecdsa", { bits });
      for (let i = 0; i < 5; i++) {
        // Repeated because r and s vary in length; short ones exercise the mpint encoding.
        const token = mintToken({ privateKey: key.privateKey, permissions: { ctx: i } });
        expect(opensshAccepts(token, key).ok).toBe(true);
        expect(verifyToken(token, key.publicKey).publicKey).toMatch(new RegExp(`^ecdsa-sha2-nistp${bits} `));
      }
    }
  });

  it("reads ECDSA and RSA keys in PKCS#8 form", () => {
    for (const type of ["rsa", "ecdsa"] as const) {
      const key = sshKeygenKey(dir, type, { format: "PKCS8" });
      expect(key.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      expect(opensshAccepts(mintToken({ privateKey: key.privateKey }), key).ok).toBe(true);
    }
  });
});

describe("key formats", () => {
  it("reads OpenSSH keys generated by ssh2, as text or bytes", () => {
    const pair = generateSshKeyPair();
    const token = mintToken({ privateKey: Buffer.from(pair.privateKey) });
    expect(verifyToken(token, pair.publicKey).fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(mintToken({ privateKey: new Uint8Array(Buffer.from(pair.privateKey)) })).toBe(token);
  });

  it("reads PKCS#8 Ed25519 keys, plain and encrypted, giving the same token as the OpenSSH file", () => {
    const parsed = utils.parseKey(ed25519.privateKey);
    if (parsed instanceof Error) throw parsed;
    const keyObject = createPrivateKey(parsed.getPrivatePEM());
    const plain = keyObject.export({ format: "pem", type: "pkcs8" }).toString();
    const encrypted = keyObject
      .export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: "secret" })
      .toString();
    const expected = mintToken({ privateKey: ed25519.privateKey });
    // A passphrase given for a key that has none is ignored, as ssh-keygen does.
    expect(mintToken({ privateKey: ed25519.privateKey, passphrase: "unused" })).toBe(expected);
    expect(mintToken({ privateKey: plain, passphrase: "unused" })).toBe(expected);
    expect(mintToken({ privateKey: plain })).toBe(expected);
    expect(mintToken({ privateKey: encrypted, passphrase: "secret" })).toBe(expected);
    expect(sandboxErrorOf(() => mintToken({ privateKey: encrypted })).code).toBe("invalid_argument");
    expect(sandboxErrorOf(() => mintToken({ privateKey: encrypted, passphrase: "nope" })).code).toBe(
      "invalid_argument",
    );
  });

  it("reads passphrase-protected OpenSSH keys; a wrong or missing passphrase is invalid_argument without key material", () => {
    const key = sshKeygenKey(dir, "ed25519", { passphrase: "secret" });
    const token = mintToken({
      privateKey: key.privateKey,
      passphrase: "secret",
      permissions: { cmds: ["ls"] },
    });
    expect(opensshAccepts(token, key).ok).toBe(true);

    const missing = sandboxErrorOf(() => mintToken({ privateKey: key.privateKey }));
    expect(missing.code).toBe("invalid_argument");
    expect(missing.message).toMatch(/passphrase/);
    const wrong = sandboxErrorOf(() => mintToken({ privateKey: key.privateKey, passphrase: "wrong-secret" }));
    expect(wrong.code).toBe("invalid_argument");
    expect(wrong.message).toMatch(/passphrase/);
    for (const error of [missing, wrong]) {
      const text = exposedText(error);
      for (const line of keyMaterial(key.privateKey)) expect(text).not.toContain(line);
      expect(text).not.toContain("wrong-secret");
      expect(error.cause).toBeUndefined();
    }
  });

  it("reads passphrase-protected traditional PEM RSA keys", () => {
    const key = sshKeygenKey(dir, "rsa", { bits: 2048, format: "PEM", passphrase: "secret" });
    expect(key.privateKey).toMatch(/ENCRYPTED/);
    const token = mintToken({ privateKey: key.privateKey, passphrase: "secret" });
    expect(opensshAccepts(token, key).ok).toBe(true);
    const error = sandboxErrorOf(() => mintToken({ privateKey: key.privateKey }));
    expect(error.message).toMatch(/passphrase/);
  });

  it("refuses public keys, garbage and key types SSHSIG cannot use, without echoing the input", () => {
    const dsa = generateKeyPairSync("dsa", { modulusLength: 2048, divisorLength: 256 }).privateKey.export({
      format: "pem",
      type: "pkcs8",
    });
    const ed448 = generateKeyPairSync("ed448").privateKey.export({ format: "pem", type: "pkcs8" });
    const pss = generateKeyPairSync("rsa-pss", { modulusLength: 2048 }).privateKey.export({
      format: "pem",
      type: "pkcs8",
    });
    const smallRsa = generateKeyPairSync("rsa", { modulusLength: 768 }).privateKey.export({
      format: "pem",
      type: "pkcs8",
    });
    const cases: Array<[unknown, RegExp]> = [
      [ed25519.publicKey, /public key/],
      [
        "-----BEGIN PRIVATE KEY-----\nAAAAnotakeyAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----",
        /could not be read/,
      ],
      [
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAnotakeyAAAAAAAAAAAAAAAAAAAA\n-----END OPENSSH PRIVATE KEY-----",
        /read/,
      ],
      ["hello", /OpenSSH or PEM/],
      ["", /empty/],
      [42, /string or Uint8Array/],
      [dsa.toString(), /only ssh-ed25519, ssh-rsa and ecdsa/],
      [ed448.toString(), /only ssh-ed25519/],
      [pss.toString(), /only ssh-ed25519/],
      [smallRsa.toString(), /768-bit RSA key/],
    ];
    for (const [privateKey, message] of cases) {
      const error = sandboxErrorOf(() => mintToken({ privateKey: privateKey as string }));
      expect(error.code).toBe("invalid_argument");
      expect(error.message).toMatch(message);
      expect(exposedText(error)).not.toContain("AAAAnotakey");
    }
  });
});

describe("mintToken input checks", () => {
  it("rejects permissions the server would reject, before reading the key", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ foo: 1 }, /unknown field "foo"/],
      [{ exp: now + 0.5 }, /exp must be a whole number/],
      [{ exp: "4102444800" }, /exp must be a whole number/],
      [{ exp: 946684799 }, /exp must be between 946684800/],
      [{ exp: 4102444801 }, /exp must be between/],
      [{ nbf: -1 }, /nbf must be between/],
      [{ nbf: Number.NaN }, /nbf must be a whole number/],
      [{ exp: null }, /exp must be a whole number/],
      [{ cmds: [""] }, /cmds must be an array of non-empty strings/],
      [{ cmds: "ls" }, /cmds must be an array/],
      [{ cmds: ["ls", 1] }, /cmds must be an array/],
      [{ ctx: 10n }, /ctx must be JSON-serialisable/],
      [{ ctx: () => 1 }, /ctx must be JSON-serialisable/],
      [{ ctx: "\ud800" }, /unpaired surrogate/],
      [[], /permissions must be an object/],
      [null, /permissions must be an object/],
    ];
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    cases.push([{ ctx: cyclic }, /ctx must be JSON-serialisable/]);
    for (const [permissions, message] of cases) {
      // A key that cannot be read: the permissions error must win.
      const error = sandboxErrorOf(() =>
        mintToken({ privateKey: "not a key", permissions: permissions as never }),
      );
      expect(error.code).toBe("invalid_argument");
      expect(error.message).toMatch(message);
    }
  });

  it("rejects tokens over 8192 bytes, before reading the key when the payload alone is too big", () => {
    const early = sandboxErrorOf(() =>
      mintToken({ privateKey: "not a key", permissions: { ctx: "x".repeat(6000) } }),
    );
    expect(early.message).toMatch(/8192 bytes/);
    // Fits with an Ed25519 signature; let it fill the budget exactly, then one byte more.
    const overhead = mintToken({ privateKey: ed25519.privateKey, permissions: { ctx: "" } }).length;
    const fits = Math.floor(((8192 - overhead) * 3) / 4);
    const big = mintToken({ privateKey: ed25519.privateKey, permissions: { ctx: "x".repeat(fits) } });
    expect(big.length).toBeLessThanOrEqual(8192);
    expect(verifyToken(big, ed25519.publicKey).permissions.ctx).toHaveLength(fits);
    const tooBig = sandboxErrorOf(() =>
      mintToken({ privateKey: ed25519.privateKey, permissions: { ctx: "x".repeat(fits + 3) } }),
    );
    expect(tooBig.message).toMatch(/8192 bytes/);
    // RSA signatures are longer: a payload that fits Ed25519 may not fit RSA.
    const rsa = sshKeygenKey(dir, "rsa", { bits: 4096 });
    const late = sandboxErrorOf(() =>
      mintToken({ privateKey: rsa.privateKey, permissions: { ctx: "x".repeat(fits) } }),
    );
    expect(late.message).toMatch(/too large for this key type/);
  });

  it("checks the namespace and passphrase types", () => {
    for (const namespace of ["", "v0@exe.dev\n", 7]) {
      const error = sandboxErrorOf(() =>
        mintToken({ privateKey: ed25519.privateKey, namespace: namespace as string }),
      );
      expect(error.code).toBe("invalid_argument");
      expect(error.message).toMatch(/namespace/);
    }
    const error = sandboxErrorOf(() => mintToken({ privateKey: ed25519.privateKey, passphrase: 1 as never }));
    expect(error.message).toMatch(/passphrase must be a string/);
    expect(sandboxErrorOf(() => mintToken(undefined as never)).code).toBe("invalid_argument");
  });
});
