import { parsePayload, type TokenPermissions } from "./payload.js";
import { publicKeyFingerprint, publicKeyLine } from "./public-key.js";
import { decodeSshsig, type Sshsig } from "./sshsig.js";
import { decodeBase64url, splitToken } from "./token-format.js";

/** What an exe0 token says about itself. */
export interface VerifiedToken {
  /** The permissions as signed; absent fields are left out. */
  permissions: TokenPermissions;
  /** The SSHSIG namespace the token was signed for, e.g. `"v0@exe.dev"` or `"v0@<vm>.exe.xyz"`. */
  namespace: string;
  /** The signing public key in OpenSSH one-line form (`"ssh-ed25519 AAAA..."`), without comment. */
  publicKey: string;
  /** The signing key's OpenSSH fingerprint (`"SHA256:..."`, no padding), as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** The message hash the signature covers; `ssh-keygen` uses sha512. */
  hashAlgorithm: "sha256" | "sha512";
}

/** A token's parts after the structural checks; shared with verification. */
export interface ParsedToken {
  info: VerifiedToken;
  payload: Buffer;
  sshsig: Sshsig;
}

/** Parses and structurally checks a token, in the server's order. */
export function parseToken(token: unknown): ParsedToken {
  const parts = splitToken(token);
  const payload = decodeBase64url(parts.payload, "token payload");
  const permissions = parsePayload(payload);
  const sshsig = decodeSshsig(decodeBase64url(parts.signature, "token signature"));
  return {
    info: {
      permissions,
      namespace: sshsig.namespace,
      publicKey: publicKeyLine(sshsig.publicKey),
      fingerprint: publicKeyFingerprint(sshsig.publicKey),
      hashAlgorithm: sshsig.hashAlgorithm,
    },
    payload,
    sshsig,
  };
}

/**
 * Reads an exe0 token WITHOUT checking its signature, expiry or namespace: everything it returns
 * is unauthenticated. Use it to find which registered key to verify against (by `fingerprint`),
 * then call {@link verifyToken}.
 *
 * Applies every structural rule the exe.dev server applies (size, base64url, payload fields,
 * integer timestamps in range, no duplicate JSON keys at any depth, SSHSIG layout) and throws
 * `SandboxError` `invalid_argument` when one fails. Messages never contain the token.
 */
export function inspectToken(token: string): VerifiedToken {
  return parseToken(token).info;
}
