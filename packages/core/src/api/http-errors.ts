import { SandboxError, type SandboxErrorCode } from "../errors.js";
import { type Redactor, sanitizeCause } from "./redact.js";
import { serverMessageOf } from "./response-body.js";

/** What an error about one `/exec` call may say: the command's name, never its arguments. */
export interface RequestContext {
  /** The command name, e.g. `new` or `ssh-key list`. */
  command: string;
  /** Hides the request's secrets in anything quoted from the server or the network stack. */
  redact: Redactor;
  /** Attempts made so far, this one included. */
  attempts: number;
}

const MAX_SERVER_MESSAGE_CHARS = 300;
// Longest Retry-After honoured, so that a bogus header cannot park a caller for hours.
const MAX_RETRY_AFTER_MS = 600_000;

/** Key used in `SandboxError.details` when a state-changing command may or may not have run. */
export const OUTCOME_UNKNOWN = "outcomeUnknown";

/** True for an error after which the server may or may not have carried out the command. */
export function isOutcomeUnknown(error: unknown): error is SandboxError {
  return SandboxError.isInstance(error) && error.details[OUTCOME_UNKNOWN] === true;
}

function quoteServer(text: string, redact: Redactor): string | undefined {
  const message = serverMessageOf(text);
  if (message === undefined) return undefined;
  const clean = redact(message)
    .replace(/[\u0000-\u001f\u007f]+/g, " ")
    .trim();
  return clean.length > MAX_SERVER_MESSAGE_CHARS ? `${clean.slice(0, MAX_SERVER_MESSAGE_CHARS)}…` : clean;
}

/**
 * Reads `Retry-After` as milliseconds: delay-seconds or an HTTP date; undefined when absent or
 * unreadable.
 */
export function parseRetryAfterMs(
  header: string | null | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  if (header === null || header === undefined || header.trim() === "") return undefined;
  const trimmed = header.trim();
  const milliseconds = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - nowMs;
  if (!Number.isFinite(milliseconds)) return undefined;
  return Math.min(Math.max(0, milliseconds), MAX_RETRY_AFTER_MS);
}

/**
 * Maps a non-2xx `/exec` answer to a {@link SandboxError}: 400/413 `invalid_argument`,
 * 401 `auth_failed`, 403 `permission_denied`, 404 `not_found`, 422 `api_error` with the server's
 * message, 429 `rate_limited`, 5xx `api_error` (retryable, outcome unknown), others `api_error`.
 * The request body is never quoted.
 */
export function errorFromStatus(
  status: number,
  bodyText: string,
  context: RequestContext,
  retryAfterMs?: number,
): SandboxError {
  const { command, redact, attempts } = context;
  const server = quoteServer(bodyText, redact);
  const said = server === undefined ? "" : `: ${server}`;
  const details: Record<string, unknown> = { status, command, attempts };
  if (server !== undefined) details.serverError = server;
  if (retryAfterMs !== undefined) details.retryAfterMs = retryAfterMs;
  const make = (code: SandboxErrorCode, message: string, retryable?: boolean) =>
    new SandboxError(code, message, retryable === undefined ? { details } : { details, retryable });

  switch (status) {
    case 400:
      return make(
        "invalid_argument",
        `exe.dev refused the "${command}" command line as malformed (HTTP 400)${said}.`,
      );
    case 413:
      return make(
        "invalid_argument",
        `The "${command}" command line is larger than exe.dev accepts (HTTP 413, 64 KiB)${said}.`,
      );
    case 401:
      return make(
        "auth_failed",
        `exe.dev rejected the API token (HTTP 401${said}); check the token option, EXE_API_TOKEN or EXE_API_KEY, and the token's expiry.`,
      );
    case 403:
      return make(
        "permission_denied",
        `The API token may not run "${command}" (HTTP 403${said}); mint a token whose cmds include it.`,
      );
    case 404:
      return make("not_found", `exe.dev does not know the command "${command}" (HTTP 404${said}).`);
    case 422:
      return make("api_error", `exe.dev "${command}" failed${said || " (HTTP 422)"}.`, false);
    case 429:
      return make(
        "rate_limited",
        `exe.dev rate limit exceeded for "${command}" after ${attempts} attempt(s) (HTTP 429); slow down or give each workload its own SSH key.`,
      );
    default:
      break;
  }
  if (status >= 500) {
    details[OUTCOME_UNKNOWN] = true;
    const why = status === 504 ? " (the server's 30 s limit passed)" : "";
    return make("api_error", `exe.dev answered HTTP ${status} to "${command}"${why}${said}.`, true);
  }
  return make("api_error", `exe.dev answered HTTP ${status} to "${command}"${said}.`, false);
}

// Connect-time failures: the request never reached the server, so even `new` may be resent.
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

function networkCodeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Maps a thrown `fetch` failure (network error, per-request timeout) to a retryable {@link SandboxError}. */
export function errorFromFetchFailure(
  error: unknown,
  context: RequestContext,
  timeoutMs: number,
): SandboxError {
  const { command, redact, attempts } = context;
  const cause = sanitizeCause(error, redact);
  const name = typeof error === "object" && error !== null ? (error as { name?: unknown }).name : undefined;
  if (name === "TimeoutError") {
    return new SandboxError("timeout", `exe.dev did not answer "${command}" within ${timeoutMs} ms.`, {
      cause,
      details: { command, attempts, timeoutMs, [OUTCOME_UNKNOWN]: true },
    });
  }
  const networkCode = networkCodeOf(error);
  const sent = networkCode === undefined || !NOT_SENT_CODES.has(networkCode);
  const details: Record<string, unknown> = { command, attempts };
  if (networkCode !== undefined) details.networkCode = networkCode;
  if (sent) details[OUTCOME_UNKNOWN] = true;
  return new SandboxError(
    "connection_failed",
    `Could not reach exe.dev for "${command}"${networkCode ? ` (${networkCode})` : ""}; check the network and EXE_API_URL.`,
    { cause, details },
  );
}
