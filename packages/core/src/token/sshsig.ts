import { createHash } from "node:crypto";
import { invalidArgument } from "../errors.js";
import { parsePublicKeyBlob, type SshPublicKey } from "./public-key.js";
import { parseSshSignature, type SshSignature } from "./ssh-signature.js";
import { SshReader, sshString, u32, WireFormatError } from "./ssh-wire.js";

// OpenSSH PROTOCOL.sshsig. The blob is what `ssh-keygen -Y sign` prints between its armor lines.

const MAGIC = Buffer.from("SSHSIG", "latin1");
/** Verifiers must refuse higher versions, so minting never writes anything else. */
const VERSION = 1;

/** The message digests SSHSIG allows. */
export type SshsigHashAlgorithm = "sha256" | "sha512";

/** A decoded SSHSIG blob. */
export interface Sshsig {
  publicKey: SshPublicKey;
  namespace: string;
  hashAlgorithm: SshsigHashAlgorithm;
  signature: SshSignature;
}

/**
 * The bytes the key actually signs. The reserved field is always empty here, whatever the blob
 * carries, as in OpenSSH's verifier.
 */
export function sshsigSignedData(
  namespace: string,
  hashAlgorithm: SshsigHashAlgorithm,
  message: Uint8Array,
): Buffer {
  const digest = createHash(hashAlgorithm).update(message).digest();
  return Buffer.concat([
    MAGIC,
    sshString(namespace),
    sshString(""),
    sshString(hashAlgorithm),
    sshString(digest),
  ]);
}

/** Builds an SSHSIG blob from a wire-format public key and an SSH signature encoding. */
export function encodeSshsig(
  publicKeyBlob: Uint8Array,
  namespace: string,
  hashAlgorithm: SshsigHashAlgorithm,
  signature: Uint8Array,
): Buffer {
  return Buffer.concat([
    MAGIC,
    u32(VERSION),
    sshString(publicKeyBlob),
    sshString(namespace),
    sshString(""),
    sshString(hashAlgorithm),
    sshString(signature),
  ]);
}

/** Decodes an SSHSIG blob, checking its structure only (not the signature). Throws `invalid_argument`. */
export function decodeSshsig(blob: Uint8Array): Sshsig {
  const malformed = (why: string) =>
    invalidArgument(`The token's signature is not a valid SSHSIG blob: ${why}.`);
  let fields: { keyBlob: Buffer; namespace: string; hashAlgorithm: string; signature: SshSignature };
  try {
    const reader = new SshReader(blob);
    if (!reader.bytes(MAGIC.length).equals(MAGIC)) throw malformed('it does not start with "SSHSIG"');
    const version = reader.u32();
    if (version !== VERSION) throw malformed(`version ${version} is not supported`);
    const keyBlob = reader.string();
    const namespace = reader.text();
    reader.string(); // reserved: ignored by verifiers
    const hashAlgorithm = reader.text();
    const signature = parseSshSignature(reader.string());
    reader.end();
    fields = { keyBlob, namespace, hashAlgorithm, signature };
  } catch (error) {
    if (error instanceof WireFormatError) throw malformed("it is truncated or has extra bytes");
    throw error;
  }
  if (fields.namespace === "") throw malformed("the namespace is empty");
  if (fields.hashAlgorithm !== "sha256" && fields.hashAlgorithm !== "sha512") {
    throw malformed("the hash algorithm is neither sha256 nor sha512");
  }
  return {
    publicKey: parsePublicKeyBlob(fields.keyBlob, "The token's signing key"),
    namespace: fields.namespace,
    hashAlgorithm: fields.hashAlgorithm,
    signature: fields.signature,
  };
}
