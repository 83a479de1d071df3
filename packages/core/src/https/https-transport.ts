import { errorFromFetchFailure, errorFromStatus, parseRetryAfterMs } from "../api/http-errors.js";
import { createRedactor } from "../api/redact.js";
import { invalidArgument, SandboxError } from "../errors.js";
import { randomHex } from "./base64.js";
import { buildExecBody, checkBodySize, type Frame, parseFrames } from "./frame.js";

/** How {@link createHttpsSandbox} reaches exe.dev's HTTPS API. */
export interface HttpsApiOptions {
  /**
   * An exe0 or exe1 token whose `cmds` allow `ssh` (or `ssh <vm>`). Sent as a bearer token,
   * never shown in errors.
   */
  token: string;
  /** Where the API lives; `/exec` is appended. @default "https://exe.dev" */
  baseUrl?: string;
  /** The `fetch` to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Deadline for each request. exe.dev ends a command after 30 s; the sandbox's scripts return
   * well before that. @default 30000
   */
  requestTimeoutMs?: number;
  /** Retries of a request answered 429 (never run, so always safe to repeat). @default 3 */
  maxRetries?: number;
}

/** Runs scripts on one VM through `POST /exec`. */
export interface HttpsTransport {
  /**
   * Runs `script` with the call's marker as `$1` and `args` after it, and returns the frames it
   * printed. `what` names the operation in errors (never its arguments).
   */
  run(script: string, args: readonly string[], what: string, signal?: AbortSignal): Promise<Frame[]>;
}

const DEFAULT_BASE_URL = "https://exe.dev";
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RETRIES = 3;
const TOKEN_CHARS = /^[\x21-\x7e]+$/;
// exe.dev's VM names (§5.7); checked here without importing the lobby client's validator.
const VM_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Checks `vm` and `api` before any I/O; see {@link HttpsApiOptions}. */
export function createHttpsTransport(vm: unknown, api: unknown): HttpsTransport {
  if (typeof vm !== "string" || !VM_NAME.test(vm) || vm.length > 63) {
    throw invalidArgument(
      "vm must be an exe.dev VM name: lowercase letters, digits and single hyphens, starting with a letter.",
    );
  }
  if (typeof api !== "object" || api === null) {
    throw invalidArgument("api must be an object such as { token }.");
  }
  const options = api as Partial<HttpsApiOptions>;
  if (typeof options.token !== "string" || !TOKEN_CHARS.test(options.token.trim())) {
    throw new SandboxError(
      "auth_failed",
      "api.token must be an exe.dev API token (exe0… or exe1…) without spaces or control characters.",
      { retryable: false },
    );
  }
  const token = options.token.trim();
  let baseUrl = DEFAULT_BASE_URL;
  if (options.baseUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(String(options.baseUrl));
    } catch {
      url = undefined;
    }
    if (
      typeof options.baseUrl !== "string" ||
      !url ||
      (url.protocol !== "https:" && url.protocol !== "http:")
    ) {
      throw invalidArgument('api.baseUrl must be an absolute http(s) URL such as "https://exe.dev".');
    }
    baseUrl = options.baseUrl.replace(/\/+$/, "");
  }
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw invalidArgument("api.fetch must be a function.");
  }
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw invalidArgument("api.requestTimeoutMs must be a positive number of milliseconds.");
  }
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw invalidArgument("api.maxRetries must be a whole number of at least 0.");
  }
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const url = `${baseUrl}/exec`;

  async function run(script: string, args: readonly string[], what: string, signal?: AbortSignal) {
    const marker = `EXEDEV-${randomHex(16)}`;
    const body = buildExecBody(vm as string, script, [marker, ...args]);
    checkBodySize(body, what);
    const redact = createRedactor([token], [body]);
    for (let attempts = 1; ; attempts++) {
      const context = { command: `ssh (${what})`, redact, attempts };
      const deadline = AbortSignal.timeout(timeoutMs);
      const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
      let response: Response;
      let text: string;
      try {
        response = await doFetch(url, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
          body,
          signal: combined,
        });
        text = await response.text();
      } catch (error) {
        if (signal?.aborted) throw abortedError(signal);
        throw errorFromFetchFailure(error, context, timeoutMs);
      }
      if (response.ok) {
        const frames = parseFrames(text, marker);
        if (frames.length === 0) {
          // Not our script's answer: the VM did not run it (wrong VM, lobby message, no shell).
          throw new SandboxError(
            "api_error",
            `The VM did not answer the HTTPS sandbox's ${what} script; check that the VM exists, runs, and has sh, base64 and setsid.`,
            { details: { status: response.status, command: "ssh" } },
          );
        }
        return frames;
      }
      const retryAfterMs =
        response.status === 429 ? parseRetryAfterMs(response.headers.get("retry-after")) : undefined;
      const error = errorFromStatus(response.status, text, context, retryAfterMs);
      if (response.status !== 429 || attempts > maxRetries) throw error;
      await sleep(retryAfterMs ?? 500 * 2 ** (attempts - 1), signal);
    }
  }

  return { run };
}

/** The `aborted` error for `signal`. */
export function abortedError(signal?: AbortSignal): SandboxError {
  const reason: unknown = signal?.reason;
  return new SandboxError("aborted", "The operation was aborted.", {
    cause: reason instanceof Error ? reason : undefined,
  });
}

/** Resolves after `ms`, or rejects with `aborted` when `signal` fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Throws the `SandboxError` a script reported with `ERR <code>`, naming the operation. */
export function throwIfFailed(frames: readonly Frame[], what: string, path?: string): void {
  const failure = frames.find((frame) => frame.kind === "ERR");
  if (!failure) return;
  const code = failure.fields[0] ?? "io_error";
  const known: Record<string, [SandboxError["code"], string]> = {
    not_found: ["not_found", "does not exist"],
    already_exists: ["already_exists", "already exists (or a file is in the way)"],
    is_a_directory: ["is_a_directory", "is a directory"],
    not_a_directory: ["not_a_directory", "is not a directory"],
    not_empty: ["not_empty", "is a directory that is not empty"],
    permission_denied: ["permission_denied", "is not accessible (permission denied)"],
    gone: ["io_error", "lost its temporary state on the VM (removed meanwhile)"],
    no_setsid: ["unsupported", "cannot run: the VM has no setsid"],
  };
  const [mapped, said] = known[code] ?? ["io_error", "failed on the VM"];
  const subject = path === undefined ? what : `${what}: ${path}`;
  throw new SandboxError(mapped, `${subject} ${said}.`, path === undefined ? {} : { details: { path } });
}
