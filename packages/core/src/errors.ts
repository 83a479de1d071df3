/**
 * Stable machine-readable reasons for a {@link SandboxError}. Match on these, never on messages.
 *
 * - `invalid_argument`: the input was rejected before any I/O (bad path, name, size, option).
 * - `auth_failed`: the SSH server or API refused every credential offered.
 * - `host_key_mismatch`: the server's host key is not the one expected; nothing was sent.
 * - `connection_failed`: the first connection could not be made (network, handshake).
 * - `sandbox_died`: the connection was lost and could not be re-established: the VM is gone.
 * - `timeout`: an operation (not a command: those resolve with exit 124) took too long.
 * - `aborted`: the caller's `AbortSignal` fired.
 * - `not_found`, `already_exists`, `not_a_directory`, `is_a_directory`, `not_empty`,
 *   `permission_denied`: file-system outcomes, also used for API 403/404.
 * - `channel_failed`: the server refused to open an SSH channel or subsystem.
 * - `closed`: the sandbox was closed by its owner.
 * - `api_error`: the exe.dev API answered with an error.
 * - `rate_limited`: the exe.dev API answered 429 and retries were exhausted.
 * - `unsupported`: the server lacks something the call needs (no SFTP subsystem, no way to
 *   kill a process group, ...); retrying on the same server will not help.
 * - `too_large`: the data is over a size limit (e.g. `readFile`'s `maxBytes`); the limit is in
 *   `details`.
 * - `io_error`: any other remote file-system failure.
 */
export type SandboxErrorCode =
  | "invalid_argument"
  | "auth_failed"
  | "host_key_mismatch"
  | "connection_failed"
  | "sandbox_died"
  | "timeout"
  | "aborted"
  | "not_found"
  | "already_exists"
  | "not_a_directory"
  | "is_a_directory"
  | "not_empty"
  | "permission_denied"
  | "channel_failed"
  | "closed"
  | "api_error"
  | "rate_limited"
  | "unsupported"
  | "too_large"
  | "io_error";

/** Codes that a later identical attempt may not hit again. */
const RETRYABLE_BY_DEFAULT: ReadonlySet<SandboxErrorCode> = new Set([
  "connection_failed",
  "timeout",
  "channel_failed",
  "rate_limited",
]);

/** Options for {@link SandboxError}. */
export interface SandboxErrorOptions {
  /** The underlying error. Never put secrets here: it is shown by `util.inspect`. */
  cause?: unknown;
  /** Whether retrying the same call may succeed. @default true for connection_failed, timeout, channel_failed, rate_limited */
  retryable?: boolean;
  /** Structured, secret-free details (a path, an HTTP status, a fingerprint). */
  details?: Readonly<Record<string, unknown>>;
}

// A registry-wide symbol, so that errors from two installed copies of core still match.
const marker: unique symbol = Symbol.for("@exedev-sandbox/core.SandboxError") as never;

/**
 * The one error class of the library. Every failure surfaces as a `SandboxError` with a stable
 * {@link SandboxErrorCode}; messages are one sentence, say how to fix the problem, and never
 * contain tokens, keys, environment values, scripts or command text.
 */
export class SandboxError extends Error {
  /** Why it failed; stable across versions. */
  readonly code: SandboxErrorCode;
  /** Whether the same call may succeed if tried again. */
  readonly retryable: boolean;
  /** Structured, secret-free context. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: SandboxErrorCode, message: string, options: SandboxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SandboxError";
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
    this.details = options.details ?? {};
    Object.defineProperty(this, marker, { value: true });
  }

  /** True for any `SandboxError`, including one from another copy of this package. */
  static isInstance(error: unknown): error is SandboxError {
    return typeof error === "object" && error !== null && marker in error;
  }
}

/**
 * True when `error` is a {@link SandboxError}, and, when `code` is given, has that code.
 *
 * @example
 * if (isSandboxError(err, "not_found")) return null;
 */
export function isSandboxError(error: unknown, code?: SandboxErrorCode): error is SandboxError {
  return SandboxError.isInstance(error) && (code === undefined || error.code === code);
}

/** Shorthand for the `invalid_argument` errors thrown by input validation. */
export function invalidArgument(message: string, details?: Record<string, unknown>): SandboxError {
  return new SandboxError("invalid_argument", message, details ? { details } : {});
}
