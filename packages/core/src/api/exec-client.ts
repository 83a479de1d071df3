import { createHash } from "node:crypto";
import { invalidArgument, SandboxError } from "../errors.js";
import { buildCommandLine, type LobbyFlags } from "./command-line.js";
import {
  errorFromFetchFailure,
  errorFromStatus,
  isOutcomeUnknown,
  parseRetryAfterMs,
  type RequestContext,
} from "./http-errors.js";
import { createRateLimiter, type RateLimiter, type RateLimiterOptions } from "./rate-limiter.js";
import { createRedactor } from "./redact.js";
import { type ParsedResponseBody, parseResponseBody } from "./response-body.js";
import { backoffDelayMs, type RetryDelayOptions, sleep } from "./retry-delay.js";

/** Settings of the `/exec` transport, already validated. */
export interface ExecClientSettings {
  /** Explicit token; else `$EXE_API_TOKEN`, then `$EXE_API_KEY`, read on first use. */
  token: string | undefined;
  /** Explicit base URL (already checked); else `$EXE_API_URL`, then `https://exe.dev`. */
  baseUrl: string | undefined;
  fetch: typeof fetch;
  timeoutMs: number;
  maxRetries: number;
  retryDelay: RetryDelayOptions;
  /** A private bucket with these settings; without it, one default bucket per token and URL is shared. */
  rateLimit: RateLimiterOptions | undefined;
}

/**
 * How a failed call may be repeated.
 * - `safe`: read-only or idempotent; network failures, timeouts and 5xx are retried.
 * - `unsafe`: changes state; only failures known to precede execution (429, refused connection)
 *   are retried, the rest surface with `details.outcomeUnknown` for the caller to check.
 */
export type RetryPolicy = "safe" | "unsafe";

/** One lobby command to send. */
export interface ExecCall {
  words: readonly string[];
  flags?: LobbyFlags;
  /** Values to hide from every error (env values, scripts, prompts); the token is always hidden. */
  secrets?: readonly (string | undefined)[];
  retry: RetryPolicy;
}

/** Sends lobby commands to `POST /exec` with rate limiting, timeouts and retries. */
export interface ExecClient {
  exec(call: ExecCall): Promise<ParsedResponseBody>;
  readonly maxRetries: number;
  readonly retryDelay: RetryDelayOptions;
}

const DEFAULT_BASE_URL = "https://exe.dev";
const SUBCOMMAND_HOSTS = new Set([
  "ssh-key",
  "share",
  "team",
  "integrations",
  "int",
  "billing",
  "defaults",
  "shelley",
]);
const COMMAND_WORD = /^[a-z][a-z0-9-]*$/;

/** The name errors use for a command, e.g. `ls` or `ssh-key list`; never its arguments. */
function commandLabel(words: readonly string[]): string {
  const [first, second] = words;
  if (first === undefined || !COMMAND_WORD.test(first)) return "command";
  if (SUBCOMMAND_HOSTS.has(first) && second !== undefined && COMMAND_WORD.test(second))
    return `${first} ${second}`;
  return first;
}

/** Checks a base URL and returns it without trailing slashes. */
export function checkBaseUrl(value: unknown, source: string): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw invalidArgument(`${source} must be an absolute http(s) URL such as "https://exe.dev".`);
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || typeof value !== "string") {
    throw invalidArgument(`${source} must be an absolute http(s) URL such as "https://exe.dev".`);
  }
  return value.replace(/\/+$/, "");
}

function resolveToken(explicit: string | undefined): string {
  const token = (explicit ?? (process.env.EXE_API_TOKEN || process.env.EXE_API_KEY) ?? "").trim();
  if (token === "") {
    throw new SandboxError(
      "auth_failed",
      "No exe.dev API token: pass the `token` option or set EXE_API_TOKEN (or EXE_API_KEY).",
      { retryable: false },
    );
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new SandboxError(
      "auth_failed",
      "The exe.dev API token contains spaces, control or non-ASCII characters; check the token option, EXE_API_TOKEN or EXE_API_KEY.",
      { retryable: false },
    );
  }
  return token;
}

// exe.dev limits per SSH key, not per client object, so clients sharing a token share a bucket.
const sharedLimiters = new Map<string, RateLimiter>();

function sharedLimiterFor(baseUrl: string, token: string): RateLimiter {
  const key = createHash("sha256").update(baseUrl).update("\0").update(token).digest("hex");
  let limiter = sharedLimiters.get(key);
  if (!limiter) {
    limiter = createRateLimiter();
    sharedLimiters.set(key, limiter);
  }
  return limiter;
}

/** Creates the `/exec` transport used by {@link createExeDevApi}. */
export function createExecClient(settings: ExecClientSettings): ExecClient {
  const privateLimiter = settings.rateLimit ? createRateLimiter(settings.rateLimit) : undefined;
  let resolved: { token: string; url: string; limiter: RateLimiter } | undefined;

  // Credentials are read on first use, so building a client never fails for a missing env var.
  const connection = () => {
    if (!resolved) {
      const token = resolveToken(settings.token);
      const baseUrl =
        settings.baseUrl ??
        (process.env.EXE_API_URL ? checkBaseUrl(process.env.EXE_API_URL, "EXE_API_URL") : DEFAULT_BASE_URL);
      resolved = {
        token,
        url: `${baseUrl}/exec`,
        limiter: privateLimiter ?? sharedLimiterFor(baseUrl, token),
      };
    }
    return resolved;
  };

  async function attempt(url: string, token: string, body: string, context: RequestContext) {
    try {
      const response = await settings.fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
        body,
        signal: AbortSignal.timeout(settings.timeoutMs),
      });
      const text = await response.text();
      if (response.ok) return { ok: true as const, parsed: parseResponseBody(text) };
      const retryAfterMs =
        response.status === 429 ? parseRetryAfterMs(response.headers.get("retry-after")) : undefined;
      return { ok: false as const, error: errorFromStatus(response.status, text, context, retryAfterMs) };
    } catch (error) {
      return { ok: false as const, error: errorFromFetchFailure(error, context, settings.timeoutMs) };
    }
  }

  async function exec(call: ExecCall): Promise<ParsedResponseBody> {
    const body = buildCommandLine(call.words, call.flags);
    const { token, url, limiter } = connection();
    // The body too: a server that quotes the whole command line back must not leak it either.
    const redact = createRedactor([token, ...(call.secrets ?? [])], [body]);
    const command = commandLabel(call.words);
    for (let attempts = 1; ; attempts++) {
      await limiter.take();
      const outcome = await attempt(url, token, body, { command, redact, attempts });
      if (outcome.ok) return outcome.parsed;
      const { error } = outcome;
      const retriesLeft = attempts <= settings.maxRetries;
      if (error.code === "rate_limited") {
        limiter.drain();
        if (!retriesLeft) throw error;
        const retryAfterMs = error.details.retryAfterMs;
        await sleep(
          typeof retryAfterMs === "number" ? retryAfterMs : backoffDelayMs(attempts - 1, settings.retryDelay),
        );
        continue;
      }
      const repeatable = error.retryable && (call.retry === "safe" || !isOutcomeUnknown(error));
      if (!repeatable || !retriesLeft) throw error;
      await sleep(backoffDelayMs(attempts - 1, settings.retryDelay));
    }
  }

  return { exec, maxRetries: settings.maxRetries, retryDelay: settings.retryDelay };
}
