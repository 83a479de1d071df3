import { homedir } from "node:os";
import { join } from "node:path";

/** The key files an SSH login tries when no key is given, in OpenSSH's order (in `~/.ssh`). */
export const DEFAULT_KEY_FILES = ["id_ed25519", "id_ecdsa", "id_rsa"] as const;

/** The home directory: `$HOME`, else the account's. */
export function homeDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOME || homedir();
}

/** `~` and `~/…` name the home directory, as in a shell (ssh's IdentityFile does the same). */
export function expandHome(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (path !== "~" && !path.startsWith("~/")) return path;
  return join(homeDir(env), path.slice(1));
}
