import { invalidArgument } from "../errors.js";
import { checkNamespace } from "./namespace.js";
import { encodePermissions, type TokenPermissions } from "./payload.js";
import { checkPrivateKeyInput, loadSigningKey } from "./private-key.js";
import { signSsh } from "./ssh-signature.js";
import { encodeSshsig, sshsigSignedData } from "./sshsig.js";
import { base64urlLength, formatToken, MAX_TOKEN_BYTES, TOKEN_PREFIX } from "./token-format.js";

/** Options for {@link mintToken}. */
export interface MintTokenOptions {
  /**
   * The signing key: an OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`) or a PEM one
   * (PKCS#8, PKCS#1 RSA or SEC1 EC, possibly encrypted). Ed25519, RSA (signed with `rsa-sha2-512`)
   * and ECDSA nistp256/384/521 keys work. Its public key must be registered on the exe.dev account
   * (`ssh exe.dev ssh-key add`); use a separate key per workload so that removing it revokes its tokens.
   */
  privateKey: string | Uint8Array;
  /** Passphrase of an encrypted private key. */
  passphrase?: string;
  /**
   * What the token allows. Set `exp`: tokens cannot otherwise be revoked except by removing the key.
   * @default {} (no expiry; the server's default `cmds`)
   */
  permissions?: TokenPermissions;
  /**
   * The SSHSIG signing namespace: `"v0@exe.dev"` for the lobby API, `"v0@<vm>.exe.xyz"` for one
   * VM's HTTPS proxy.
   * @default "v0@exe.dev"
   */
  namespace?: string;
}

// Smallest possible SSHSIG blob (Ed25519) without its namespace; lets an oversized payload fail
// before the key is decrypted.
const MIN_BLOB_BYTES_WITHOUT_NAMESPACE = 170;

/**
 * Mints an exe0 token: `exe0.<base64url payload>.<base64url SSHSIG signature>`, the same bytes
 * `ssh-keygen -Y sign -n <namespace>` would produce for the payload (SHA-512 message hash).
 * Everything runs in-process; no `ssh-keygen`, no temporary files.
 *
 * Throws `SandboxError` `invalid_argument` for bad permissions (checked with the server's rules
 * before any key is read), an unreadable key, a wrong or missing passphrase, or a token over
 * 8192 bytes. Messages never contain key material.
 *
 * @example
 * const token = mintToken({
 *   privateKey: readFileSync("id_ed25519", "utf8"),
 *   permissions: { exp: Math.floor(Date.now() / 1000) + 3600, cmds: ["new", "ls", "rm", "ssh", "cp"] },
 * });
 */
export function mintToken(options: MintTokenOptions): string {
  if (typeof options !== "object" || options === null) {
    throw invalidArgument("mintToken needs an options object with at least privateKey.");
  }
  const namespace = checkNamespace(options.namespace);
  const payloadJson = encodePermissions(options.permissions);
  const payload = Buffer.from(payloadJson, "utf8");
  const smallest =
    TOKEN_PREFIX.length +
    base64urlLength(payload.length) +
    1 +
    base64urlLength(MIN_BLOB_BYTES_WITHOUT_NAMESPACE + Buffer.byteLength(namespace));
  if (smallest > MAX_TOKEN_BYTES) {
    throw invalidArgument(`permissions are too large: the token would exceed ${MAX_TOKEN_BYTES} bytes.`);
  }
  const keyText = checkPrivateKeyInput(options.privateKey, options.passphrase);

  const key = loadSigningKey(keyText, options.passphrase);
  const signed = sshsigSignedData(namespace, "sha512", payload);
  const signature = signSsh(key.publicKey, key.privateKey, signed);
  const token = formatToken(payload, encodeSshsig(key.publicKey.blob, namespace, "sha512", signature));
  if (token.length > MAX_TOKEN_BYTES) {
    throw invalidArgument(
      `permissions are too large for this key type: the token would exceed ${MAX_TOKEN_BYTES} bytes.`,
    );
  }
  return token;
}
