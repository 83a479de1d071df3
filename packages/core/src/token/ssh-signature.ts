import { type KeyObject, sign, verify } from "node:crypto";
import type { SshPublicKey } from "./public-key.js";
import { SshReader, sshMpint, sshString, WireFormatError } from "./ssh-wire.js";

/** A parsed SSH signature (RFC 4253 section 6.6): algorithm name and algorithm-specific bytes. */
export interface SshSignature {
  algorithm: string;
  bytes: Buffer;
}

/** The algorithm minting uses for each key type. RSA must not use `ssh-rsa` (SHA-1): OpenSSH refuses it in SSHSIG. */
function signingAlgorithm(key: SshPublicKey): string {
  return key.type === "ssh-rsa" ? "rsa-sha2-512" : key.type;
}

/** Signs `data` and returns the SSH signature encoding (`string algorithm || string bytes`). */
export function signSsh(key: SshPublicKey, privateKey: KeyObject, data: Uint8Array): Buffer {
  const algorithm = signingAlgorithm(key);
  let bytes: Buffer;
  if (key.type === "ssh-ed25519") {
    bytes = sign(null, data, privateKey);
  } else if (key.type === "ssh-rsa") {
    bytes = sign("sha512", data, privateKey);
  } else {
    const curve = key.curve!;
    const p1363 = sign(curve.hash, data, { key: privateKey, dsaEncoding: "ieee-p1363" });
    const r = p1363.subarray(0, curve.fieldBytes);
    const s = p1363.subarray(curve.fieldBytes);
    bytes = Buffer.concat([sshMpint(r), sshMpint(s)]);
  }
  return Buffer.concat([sshString(algorithm), sshString(bytes)]);
}

/** Splits an SSH signature encoding; throws {@link WireFormatError} when malformed. */
export function parseSshSignature(encoded: Uint8Array): SshSignature {
  const reader = new SshReader(encoded);
  const algorithm = reader.string().toString("latin1");
  const bytes = reader.string();
  reader.end();
  return { algorithm, bytes };
}

/** Why a signature was refused, for the error message; never echoes signature bytes. */
export type SignatureCheck = { ok: true } | { ok: false; reason: string };

function leftPad(bytes: Uint8Array, length: number): Buffer | undefined {
  if (bytes.length > length) return undefined;
  return Buffer.concat([Buffer.alloc(length - bytes.length), bytes]);
}

/** Checks an SSH signature over `data` by `key`. */
export function verifySsh(
  key: SshPublicKey,
  publicKey: KeyObject,
  data: Uint8Array,
  signature: SshSignature,
): SignatureCheck {
  const bad: SignatureCheck = { ok: false, reason: "the signature does not match the payload and key" };
  if (key.type === "ssh-ed25519") {
    if (signature.algorithm !== "ssh-ed25519") return mismatch(key);
    if (signature.bytes.length !== 64) return bad;
    return verify(null, data, publicKey, signature.bytes) ? { ok: true } : bad;
  }
  if (key.type === "ssh-rsa") {
    if (signature.algorithm === "ssh-rsa") {
      return { ok: false, reason: "ssh-rsa (SHA-1) signatures are not accepted; sign with rsa-sha2-512" };
    }
    const hash = { "rsa-sha2-256": "sha256", "rsa-sha2-512": "sha512" }[signature.algorithm];
    if (!hash) return mismatch(key);
    // OpenSSH accepts signatures shorter than the modulus (leading zeros dropped); Node does not.
    const padded = leftPad(signature.bytes, Math.ceil(key.rsaBits! / 8));
    if (!padded) return bad;
    return verify(hash, data, publicKey, padded) ? { ok: true } : bad;
  }
  if (signature.algorithm !== key.type) return mismatch(key);
  const curve = key.curve!;
  let p1363: Buffer;
  try {
    const reader = new SshReader(signature.bytes);
    const r = leftPad(reader.positiveMpint(), curve.fieldBytes);
    const s = leftPad(reader.positiveMpint(), curve.fieldBytes);
    reader.end();
    if (!r || !s) return bad;
    p1363 = Buffer.concat([r, s]);
  } catch (error) {
    if (error instanceof WireFormatError) return bad;
    throw error;
  }
  return verify(curve.hash, data, { key: publicKey, dsaEncoding: "ieee-p1363" }, p1363) ? { ok: true } : bad;
}

function mismatch(key: SshPublicKey): SignatureCheck {
  return { ok: false, reason: `the signature algorithm does not belong to a ${key.type} key` };
}
