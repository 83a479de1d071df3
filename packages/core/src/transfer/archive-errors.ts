import { SandboxError } from "../errors.js";

/**
 * An archive member refused for safety: it would write, or leave a link that leads, outside the
 * target directory. Not retryable: the same archive is refused again.
 */
export function refusedMember(message: string, member: string): SandboxError {
  return new SandboxError("permission_denied", message, { details: { member }, retryable: false });
}

/** A corrupt or truncated archive. */
export function corruptArchive(message: string): SandboxError {
  return new SandboxError("io_error", message, { retryable: false });
}
