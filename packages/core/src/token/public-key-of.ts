import { invalidArgument } from "../errors.js";
import { checkPrivateKeyInput, loadSigningKey } from "./private-key.js";
import { publicKeyFingerprint, publicKeyLine } from "./public-key.js";

/** The public half of a private key, as {@link publicKeyOf} returns it. */
export interface PublicKeyInfo {
  /** The OpenSSH one-line public key without comment, e.g. `ssh-ed25519 AAAA…`: what `ssh exe.dev ssh-key add` takes. */
  publicKey: string;
  /** Its OpenSSH `SHA256:` fingerprint, as `whoami` lists registered keys. */
  fingerprint: string;
}

/** Options for {@link publicKeyOf}. */
export interface PublicKeyOfOptions {
  /** Passphrase of an encrypted private key. @default none */
  passphrase?: string;
}

/**
 * The public key and fingerprint of a private key (OpenSSH or PEM: PKCS#8, PKCS#1, SEC1;
 * Ed25519, ECDSA or RSA), read in memory: e.g. to tell a user which key to register with
 * exe.dev, or to check it against `whoami`'s list. The key is parsed fully, so this also
 * checks that a pasted key can be used.
 *
 * @throws SandboxError `invalid_argument` for anything that is not a usable private key (a
 * public key, an encrypted key without its passphrase, a wrong passphrase, RSA under 1024 bits);
 * the message never quotes the key.
 * @example
 * import { generateSshKeyPair, publicKeyOf } from "@exedev-sandbox/core";
 *
 * const { privateKey } = generateSshKeyPair();
 * const { publicKey, fingerprint } = publicKeyOf(privateKey);
 * console.log(`ssh exe.dev ssh-key add '${publicKey}'  # ${fingerprint}`);
 */
export function publicKeyOf(
  privateKey: string | Uint8Array,
  options: PublicKeyOfOptions = {},
): PublicKeyInfo {
  if (typeof options !== "object" || options === null)
    throw invalidArgument("publicKeyOf options must be an object.");
  const text = checkPrivateKeyInput(privateKey, options.passphrase);
  const { publicKey } = loadSigningKey(text, options.passphrase);
  return { publicKey: publicKeyLine(publicKey), fingerprint: publicKeyFingerprint(publicKey) };
}
