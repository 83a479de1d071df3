import { sshUtils } from "./ssh2-runtime.js";

/** An OpenSSH key pair: the private key (OpenSSH PEM) and the one-line public key. */
export interface SshKeyPair {
  privateKey: string;
  publicKey: string;
}

/**
 * Generates an Ed25519 key pair in OpenSSH format, e.g. for a test server, the emulator, or a
 * key to register with exe.dev and sign API tokens with.
 *
 * ssh2's generator occasionally (about 1 in 300) emits a private key that ssh2 itself then
 * refuses as malformed, so every pair is parsed before it is returned.
 *
 * @param comment - Comment stored with the key. @default ""
 */
export function generateSshKeyPair(comment = ""): SshKeyPair {
  for (;;) {
    const pair = sshUtils.generateKeyPairSync("ed25519", comment ? { comment } : undefined);
    if (!(sshUtils.parseKey(pair.private) instanceof Error))
      return { privateKey: pair.private, publicKey: pair.public };
  }
}
