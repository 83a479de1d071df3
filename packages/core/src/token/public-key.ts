import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { invalidArgument } from "../errors.js";
import { fingerprintOf } from "../ssh/host-key.js";
import { SshReader, sshMpint, sshString, WireFormatError } from "./ssh-wire.js";

/** The SSH key types tokens can be signed with. */
export type SshKeyType =
  | "ssh-ed25519"
  | "ssh-rsa"
  | "ecdsa-sha2-nistp256"
  | "ecdsa-sha2-nistp384"
  | "ecdsa-sha2-nistp521";

/** What differs between the three NIST curves OpenSSH supports. */
export interface EcdsaCurve {
  /** The curve identifier inside the SSH key blob. */
  sshName: "nistp256" | "nistp384" | "nistp521";
  jwkCurve: "P-256" | "P-384" | "P-521";
  /** Bytes per coordinate (and per r/s in IEEE P1363 form). */
  fieldBytes: number;
  /** RFC 5656: the curve size fixes the signature hash. */
  hash: "sha256" | "sha384" | "sha512";
}

const CURVES: Readonly<Record<string, EcdsaCurve>> = {
  "ecdsa-sha2-nistp256": { sshName: "nistp256", jwkCurve: "P-256", fieldBytes: 32, hash: "sha256" },
  "ecdsa-sha2-nistp384": { sshName: "nistp384", jwkCurve: "P-384", fieldBytes: 48, hash: "sha384" },
  "ecdsa-sha2-nistp521": { sshName: "nistp521", jwkCurve: "P-521", fieldBytes: 66, hash: "sha512" },
};

/** A public key in the forms the token code needs. */
export interface SshPublicKey {
  type: SshKeyType;
  /** SSH wire encoding; what fingerprints and SSHSIG blobs are made of. */
  blob: Buffer;
  /** The same key for Node's crypto. */
  jwk: JsonWebKey;
  /** Set for ECDSA keys. */
  curve?: EcdsaCurve;
  /** RSA modulus size in bits; set for RSA keys. */
  rsaBits?: number;
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

/** A key type name fit to show in an error: it may come from an untrusted token. */
function printableType(type: string): string {
  return /^[A-Za-z0-9@._-]{1,64}$/.test(type) ? type : "unknown";
}

function bitLength(magnitude: Uint8Array): number {
  const top = magnitude[0] ?? 0;
  return (magnitude.length - 1) * 8 + (32 - Math.clz32(top));
}

function unsupportedType(type: string, what: string): Error {
  return invalidArgument(
    `${what} is a ${printableType(type)} key; only ssh-ed25519, ssh-rsa and ecdsa-sha2-nistp256/384/521 keys are supported.`,
    { keyType: printableType(type) },
  );
}

function parseBlobFields(blob: Buffer, what: string): SshPublicKey {
  const reader = new SshReader(blob);
  const type = reader.string().toString("latin1");
  if (type === "ssh-ed25519") {
    const point = reader.string();
    reader.end();
    if (point.length !== 32) throw new WireFormatError("bad ed25519 key length");
    return { type, blob, jwk: { kty: "OKP", crv: "Ed25519", x: b64url(point) } };
  }
  if (type === "ssh-rsa") {
    const e = reader.positiveMpint();
    const n = reader.positiveMpint();
    reader.end();
    return { type, blob, jwk: { kty: "RSA", n: b64url(n), e: b64url(e) }, rsaBits: bitLength(n) };
  }
  const curve = CURVES[type];
  if (curve) {
    if (reader.string().toString("latin1") !== curve.sshName) throw new WireFormatError("curve mismatch");
    const point = reader.string();
    reader.end();
    // Only the uncompressed form (0x04 || x || y) is allowed in SSH (RFC 5656 section 3.1).
    if (point.length !== 1 + 2 * curve.fieldBytes || point[0] !== 4) {
      throw new WireFormatError("bad ecdsa point");
    }
    const x = point.subarray(1, 1 + curve.fieldBytes);
    const y = point.subarray(1 + curve.fieldBytes);
    return {
      type: type as SshKeyType,
      blob,
      jwk: { kty: "EC", crv: curve.jwkCurve, x: b64url(x), y: b64url(y) },
      curve,
    };
  }
  throw unsupportedType(type, what);
}

/**
 * Parses an SSH wire-format public key. Throws `invalid_argument` naming `what` when it is
 * malformed or of a type tokens cannot use.
 */
export function parsePublicKeyBlob(blob: Uint8Array, what: string): SshPublicKey {
  try {
    return parseBlobFields(Buffer.from(blob), what);
  } catch (error) {
    if (error instanceof WireFormatError) throw invalidArgument(`${what} is malformed.`);
    throw error;
  }
}

/** Parses an OpenSSH one-line public key (`ssh-ed25519 AAAA... comment`). */
export function parsePublicKeyLine(line: unknown, what = "publicKey"): SshPublicKey {
  const hint = `${what} must be an OpenSSH public key line such as "ssh-ed25519 AAAA...".`;
  if (typeof line !== "string") throw invalidArgument(hint);
  const [type, base64] = line.trim().split(/\s+/);
  if (!type || !base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
    throw invalidArgument(hint);
  }
  const key = parsePublicKeyBlob(Buffer.from(base64, "base64"), what);
  if (key.type !== type)
    throw invalidArgument(`${what} names type ${printableType(type)} but holds another key type.`);
  return key;
}

/** The key as an OpenSSH one-line public key, without comment. */
export function publicKeyLine(key: SshPublicKey): string {
  return `${key.type} ${key.blob.toString("base64")}`;
}

/** The OpenSSH `SHA256:` fingerprint of the key. */
export function publicKeyFingerprint(key: SshPublicKey): string {
  return fingerprintOf(key.blob);
}

/** The key for Node's `crypto.verify`; throws `invalid_argument` if Node rejects it (e.g. a point off the curve). */
export function publicKeyObject(key: SshPublicKey, what: string): KeyObject {
  try {
    return createPublicKey({ key: key.jwk, format: "jwk" });
  } catch {
    throw invalidArgument(`${what} is not a valid ${key.type} key.`);
  }
}

/**
 * The SSH public key of a Node key object (private or public). Throws `invalid_argument` for
 * key kinds SSH signatures cannot use (RSA-PSS, DSA, Ed448, X25519, other curves).
 */
export function sshPublicKeyOf(keyObject: KeyObject, what: string): SshPublicKey {
  const kind = keyObject.asymmetricKeyType ?? "unknown";
  if (kind !== "ed25519" && kind !== "rsa" && kind !== "ec") throw unsupportedType(kind, what);
  let jwk: JsonWebKey;
  try {
    jwk = createPublicKey(keyObject).export({ format: "jwk" });
  } catch {
    // Node has no JWK form for some curves (brainpool...); SSH has no name for them either.
    throw unsupportedType(kind, what);
  }
  const bytes = (field: string | undefined): Buffer => Buffer.from(field ?? "", "base64url");
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") {
    return parsePublicKeyBlob(Buffer.concat([sshString("ssh-ed25519"), sshString(bytes(jwk.x))]), what);
  }
  if (jwk.kty === "RSA") {
    const blob = Buffer.concat([sshString("ssh-rsa"), sshMpint(bytes(jwk.e)), sshMpint(bytes(jwk.n))]);
    return parsePublicKeyBlob(blob, what);
  }
  if (jwk.kty === "EC") {
    for (const [type, curve] of Object.entries(CURVES)) {
      if (curve.jwkCurve !== jwk.crv) continue;
      const point = Buffer.concat([Buffer.of(4), bytes(jwk.x), bytes(jwk.y)]);
      return parsePublicKeyBlob(
        Buffer.concat([sshString(type), sshString(curve.sshName), sshString(point)]),
        what,
      );
    }
  }
  throw unsupportedType(jwk.crv ? `${kind}-${jwk.crv}` : kind, what);
}
