import { SandboxError } from "../errors.js";

/** The error for an answer of exe.dev whose JSON is not the documented shape of `command`. */
export function unexpectedAnswer(command: string): SandboxError {
  return new SandboxError(
    "api_error",
    `exe.dev answered "${command}" with a shape this client does not understand.`,
    { details: { command }, retryable: false },
  );
}
