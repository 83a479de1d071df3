import { invalidArgument, SandboxError } from "../errors.js";
import { parseToken, type VerifiedToken } from "./inspect-token.js";
import { checkNamespace } from "./namespace.js";
import { parsePublicKeyLine, publicKeyFingerprint, publicKeyObject } from "./public-key.js";
import { verifySsh } from "./ssh-signature.js";
import { sshsigSignedData } from "./sshsig.js";

/** Options for {@link verifyToken}. */
export interface VerifyTokenOptions {
  /**
   * The namespace the token must be signed for: `"v0@exe.dev"` for the lobby API,
   * `"v0@<vm>.exe.xyz"` for one VM's HTTPS proxy.
   * @default "v0@exe.dev"
   */
  namespace?: string;
  /**
   * The current time in Unix seconds, for `exp`/`nbf` checks (fractions are dropped).
   * @default Math.floor(Date.now() / 1000)
   */
  nowSeconds?: number;
}

function refused(message: string, details: Record<string, unknown> = {}): SandboxError {
  return new SandboxError("auth_failed", message, { details });
}

function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

/**
 * Verifies an exe0 token as the exe.dev server does: structure and payload rules (see
 * {@link inspectToken}), the embedded signing key equals `publicKey`, the SSHSIG signature
 * (sha256 or sha512 message hash) is valid, the namespace matches, `exp >= now` and `nbf <= now`.
 *
 * @param publicKey - The expected signer as an OpenSSH one-line public key (`"ssh-ed25519 AAAA... comment"`).
 * @returns The token's permissions and signer, now authenticated.
 * @throws SandboxError `invalid_argument` for malformed input (token or key), `auth_failed` for a
 * wrong key, bad signature, wrong namespace, expired or not-yet-valid token. Messages never
 * contain the token or key material.
 */
export function verifyToken(
  token: string,
  publicKey: string,
  options: VerifyTokenOptions = {},
): VerifiedToken {
  if (typeof options !== "object" || options === null) throw invalidArgument("options must be an object.");
  const namespace = checkNamespace(options.namespace, "options.namespace");
  const nowInput = options.nowSeconds ?? Date.now() / 1000;
  if (typeof nowInput !== "number" || !Number.isFinite(nowInput)) {
    throw invalidArgument("options.nowSeconds must be a finite number of Unix seconds.");
  }
  const now = Math.floor(nowInput);
  const expected = parsePublicKeyLine(publicKey);
  const keyObject = publicKeyObject(expected, "publicKey");
  const parsed = parseToken(token);
  const { info, sshsig } = parsed;

  if (!sshsig.publicKey.blob.equals(expected.blob)) {
    throw refused("The token was signed by a different key than the one given.", {
      fingerprint: info.fingerprint,
      expectedFingerprint: publicKeyFingerprint(expected),
    });
  }
  // The namespace is covered by the signature, so checking it first only changes the message.
  if (sshsig.namespace !== namespace) {
    throw refused(
      `The token was signed for namespace ${JSON.stringify(sshsig.namespace.slice(0, 128))}, not ${JSON.stringify(namespace)}.`,
      { namespace: sshsig.namespace.slice(0, 128), expectedNamespace: namespace },
    );
  }
  const signed = sshsigSignedData(namespace, sshsig.hashAlgorithm, parsed.payload);
  const check = verifySsh(expected, keyObject, signed, sshsig.signature);
  if (!check.ok) {
    throw refused(`The token's signature is not valid: ${check.reason}.`, { fingerprint: info.fingerprint });
  }
  const { exp, nbf } = info.permissions;
  if (exp !== undefined && exp < now) {
    throw refused(`The token expired at ${isoTime(exp)}; mint a new one.`, { exp, now });
  }
  if (nbf !== undefined && nbf > now) {
    throw refused(`The token is not valid before ${isoTime(nbf)}.`, { nbf, now });
  }
  return info;
}
