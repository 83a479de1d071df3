import { createPrivateKey, type KeyObject } from "node:crypto";
import { sshString, u32 } from "../token/ssh-wire.js";

/** A PEM that ssh2's key parser cannot read but node:crypto can: PKCS#8, plain or encrypted. */
const PKCS8 = /^\s*-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/;

/** What converting a PKCS#8 key gave: key material ssh2 reads, or why there is none. */
export type Pkcs8Result =
  | { state: "converted"; material: string }
  | { state: "encrypted" | "invalid" | "unsupported" };

/** Whether `material` is a PKCS#8 PEM (what node:crypto's `generateKeyPairSync` writes). */
export function isPkcs8(material: Buffer | string): boolean {
  return PKCS8.test(typeof material === "string" ? material : material.subarray(0, 64).toString("latin1"));
}

/**
 * Re-encodes a PKCS#8 private key in a format ssh2 reads, in memory: RSA as PKCS#1, ECDSA as
 * SEC1, Ed25519 as an unencrypted OpenSSH key. ssh2 reads only OpenSSH, PKCS#1 and SEC1 keys,
 * while node:crypto (and so this library's token signing) writes PKCS#8 by default.
 */
export function pkcs8ForSsh2(material: Buffer | string, passphrase: string | undefined): Pkcs8Result {
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase === undefined ? { key: material } : { key: material, passphrase });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const encrypted = code === "ERR_MISSING_PASSPHRASE" || /ENCRYPTED PRIVATE KEY/.test(String(material));
    return { state: encrypted && passphrase === undefined ? "encrypted" : "invalid" };
  }
  switch (key.asymmetricKeyType) {
    case "rsa":
      return { state: "converted", material: String(key.export({ type: "pkcs1", format: "pem" })) };
    case "ec":
      return { state: "converted", material: String(key.export({ type: "sec1", format: "pem" })) };
    case "ed25519":
      return { state: "converted", material: openSshEd25519(key) };
    default:
      return { state: "unsupported" };
  }
}

/** An unencrypted `openssh-key-v1` file holding one Ed25519 key (PROTOCOL.key in OpenSSH). */
function openSshEd25519(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d ?? "", "base64url");
  const pub = Buffer.from(jwk.x ?? "", "base64url");
  const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
  // The two check words only let a decrypting reader notice a wrong passphrase; any value works.
  const check = u32(0x5a5a5a5a);
  let secret = Buffer.concat([
    check,
    check,
    sshString("ssh-ed25519"),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(""),
  ]);
  const padding = Buffer.from(Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1));
  secret = Buffer.concat([secret, padding]);
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    u32(1),
    sshString(publicBlob),
    sshString(secret),
  ]);
  const lines = body.toString("base64").match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
