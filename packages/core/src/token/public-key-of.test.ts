// publicKeyOf against OpenSSH's own tools: the public line and fingerprint must be the ones
// ssh-keygen derives from the same private key file.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { publicKeyOf } from "../index.js";

const dir = mkdtempSync(join(tmpdir(), "exedev-public-key-of-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let made = 0;
function keygen(type: string, passphrase = ""): { file: string; text: string } {
  const file = join(dir, `${type}-${++made}`);
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", passphrase, "-C", "a-comment", "-f", file]);
  return { file, text: readFileSync(file, "utf8") };
}

/** What ssh-keygen says the public line (without comment) and fingerprint are. */
function openSshView(file: string, passphrase = ""): { publicKey: string; fingerprint: string } {
  const line = execFileSync("ssh-keygen", ["-y", "-P", passphrase, "-f", file], { encoding: "utf8" }).trim();
  const publicKey = line.split(" ").slice(0, 2).join(" ");
  writeFileSync(`${file}.derived.pub`, `${publicKey}\n`);
  const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.derived.pub`], {
    encoding: "utf8",
  }).split(" ")[1]!;
  return { publicKey, fingerprint };
}

describe("publicKeyOf", () => {
  it.each(["ed25519", "ecdsa", "rsa"])("derives what ssh-keygen derives for an OpenSSH %s key", (type) => {
    const { file, text } = keygen(type);
    expect(publicKeyOf(text)).toEqual(openSshView(file));
    expect(publicKeyOf(Buffer.from(text))).toEqual(openSshView(file));
  });

  it("reads a passphrase-protected key with its passphrase only", () => {
    const { file, text } = keygen("ed25519", "open sesame");
    expect(publicKeyOf(text, { passphrase: "open sesame" })).toEqual(openSshView(file, "open sesame"));
    for (const options of [{}, { passphrase: "wrong" }]) {
      const error = (() => {
        try {
          publicKeyOf(text, options);
        } catch (caught) {
          return caught as { code: string; message: string };
        }
      })();
      expect(error?.code).toBe("invalid_argument");
      expect(error?.message).not.toContain(text.split("\n")[1]!.slice(0, 20));
    }
  });

  it("reads a PKCS#8 key as node:crypto writes it, giving the key ssh-keygen reads from it", () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const file = join(dir, "pkcs8");
    writeFileSync(file, pem, { mode: 0o600 });
    const derived = publicKeyOf(pem);
    expect(derived.publicKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
    // ssh-keygen cannot read PKCS#8 Ed25519, so check the fingerprint of our line with it.
    writeFileSync(`${file}.pub`, `${derived.publicKey}\n`);
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`], {
      encoding: "utf8",
    }).split(" ")[1];
    expect(derived.fingerprint).toBe(fingerprint);
  });

  it("rejects a public key, junk and bad options with invalid_argument", () => {
    const { file } = keygen("ed25519");
    const publicLine = readFileSync(`${file}.pub`, "utf8");
    for (const input of [publicLine, "not a key", "", 42]) {
      expect(() => publicKeyOf(input as string)).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
    }
    expect(() => publicKeyOf(readFileSync(file, "utf8"), null as never)).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });
});
