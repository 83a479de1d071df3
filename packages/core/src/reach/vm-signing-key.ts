import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SandboxError } from "../errors.js";
import { DEFAULT_KEY_FILES, expandHome, homeDir } from "../ssh/home-path.js";
import type { VmSigningKey } from "./vm-fetch.js";

/** The key options of an exe.dev sandbox that can sign VM tokens. */
export interface SigningKeyOptions {
  privateKey?: string | Uint8Array;
  privateKeyPath?: string;
  passphrase?: string;
}

function readKey(path: string, label: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new SandboxError(
      "invalid_argument",
      `Cannot read the key at ${label} to sign a VM token: ${(error as NodeJS.ErrnoException).code ?? "error"}.`,
    );
  }
}

/**
 * The key that signs VM tokens for `sandbox.fetch`: the first of `privateKey`, `privateKeyPath`,
 * `$EXE_SSH_KEY`, `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` (the order the SSH login tries key
 * files in). An SSH agent cannot sign here: tokens are signed in-process.
 * @throws SandboxError `unsupported` when there is no key file or key.
 */
export function resolveSigningKey(
  options: SigningKeyOptions,
  env: NodeJS.ProcessEnv = process.env,
): VmSigningKey {
  const withPassphrase = (privateKey: string | Uint8Array): VmSigningKey =>
    options.passphrase === undefined ? { privateKey } : { privateKey, passphrase: options.passphrase };
  if (options.privateKey !== undefined) return withPassphrase(options.privateKey);
  if (options.privateKeyPath !== undefined) {
    return withPassphrase(readKey(expandHome(options.privateKeyPath, env), "privateKeyPath"));
  }
  if (env.EXE_SSH_KEY) return withPassphrase(readKey(expandHome(env.EXE_SSH_KEY, env), "$EXE_SSH_KEY"));
  for (const name of DEFAULT_KEY_FILES) {
    const path = join(homeDir(env), ".ssh", name);
    if (existsSync(path)) return withPassphrase(readKey(path, `~/.ssh/${name}`));
  }
  throw new SandboxError(
    "unsupported",
    "sandbox.fetch signs a VM token with a private key, and an SSH agent cannot be used for that: pass privateKey or privateKeyPath, or set EXE_SSH_KEY.",
  );
}
