import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fingerprintOf, generateSshKeyPair, SandboxError, type SshKeyPair } from "@exedev-sandbox/core";
import ssh2 from "ssh2";

/** A checked public key. */
export interface PublicKeyInfo {
  /** `<type> <base64>`, the comment dropped. */
  line: string;
  /** `SHA256:…`. */
  fingerprint: string;
}

/**
 * Checks an OpenSSH one-line public key (`ssh-ed25519 AAAA… comment`).
 * @throws SandboxError `invalid_argument` for anything else, private keys included.
 */
export function parsePublicKey(text: string): PublicKeyInfo {
  const fail = (): never => {
    throw new SandboxError(
      "invalid_argument",
      "Expected an OpenSSH one-line public key, such as the contents of ~/.ssh/id_ed25519.pub.",
    );
  };
  if (typeof text !== "string") return fail();
  const [type, base64] = text.trim().split(/\s+/);
  if (!type || !base64) return fail();
  const parsed = ssh2.utils.parseKey(`${type} ${base64}`);
  if (parsed instanceof Error || parsed.isPrivateKey()) return fail();
  const blob = parsed.getPublicSSH();
  return { line: `${type} ${blob.toString("base64")}`, fingerprint: fingerprintOf(blob) };
}

/** Reads an Ed25519 key pair from `path` and `path.pub`, generating and saving one when absent. */
export function loadOrCreateKeyPair(path: string, comment: string): SshKeyPair {
  if (existsSync(path) && existsSync(`${path}.pub`)) {
    return { privateKey: readFileSync(path, "utf8"), publicKey: readFileSync(`${path}.pub`, "utf8").trim() };
  }
  const pair = generateSshKeyPair(comment);
  writeFileSync(path, pair.privateKey, { mode: 0o600 });
  writeFileSync(`${path}.pub`, `${pair.publicKey}\n`);
  return pair;
}
