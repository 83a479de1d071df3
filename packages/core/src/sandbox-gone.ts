import { isSandboxError } from "./errors.js";

/**
 * True when `error` says the sandbox can never answer again: its connection was lost and could
 * not be re-established (`sandbox_died`: the machine is gone or unreachable for good), or it was
 * closed by its owner (`closed`). Either way, a cached sandbox should be dropped and a new one
 * dialled; any other error (a failed command, `not_found`, `timeout`, `aborted`) leaves it usable.
 *
 * @example
 * try { await sandbox.exec("make") } catch (error) { if (isSandboxGone(error)) sandbox = await reconnect(); }
 */
export function isSandboxGone(error: unknown): boolean {
  return isSandboxError(error, "sandbox_died") || isSandboxError(error, "closed");
}
