import { SandboxError } from "../errors.js";
import type { Redactor } from "./redact.js";

/**
 * A copy of `error` safe to hand to a host that logs or shows it: a `SandboxError` with the
 * redacted message, the code and `retryable` kept (`io_error` for an error that is not a
 * `SandboxError`), and no cause, details or stack frames that could hold a secret.
 *
 * @example
 * import { createRedactor, redactError } from "@exedev-sandbox/core";
 *
 * const safe = redactError(new Error("bad token exe0.abc"), createRedactor(["exe0.abc"]));
 * // safe.message === "bad token [redacted]", safe.code === "io_error"
 */
export function redactError(error: unknown, redact: Redactor): SandboxError {
  const message = error instanceof Error ? error.message : String(error);
  const copy = SandboxError.isInstance(error)
    ? new SandboxError(error.code, redact(message), { retryable: error.retryable })
    : new SandboxError("io_error", redact(message), { retryable: false });
  copy.stack = `${copy.name}: ${copy.message}`;
  return copy;
}
