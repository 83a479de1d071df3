import { isSandboxGone, SandboxError } from "@exedev-sandbox/core";
import { SandboxDiedError } from "@flue/runtime";

/**
 * The error Flue should see for a failed `operation`: a gone sandbox becomes Flue's
 * `SandboxDiedError` (an infrastructure failure, never an abort); everything else, including
 * `aborted` and file-system outcomes such as `not_found`, passes through unchanged.
 */
export function toFlueError(operation: string, error: unknown): unknown {
  if (!isSandboxGone(error)) return error;
  const died = new SandboxDiedError({ operation, reason: "stopped" });
  // Flue's constructor takes no cause; keep core's (secret-free) error for whoever debugs it.
  Object.defineProperty(died, "cause", { value: error, enumerable: false });
  return died;
}

/** What `createSandbox` rejects with once its factory (or its pool) was disposed. */
export function disposedError(): SandboxError {
  return new SandboxError("closed", "This exedev() factory was disposed; create a new one to continue.");
}
