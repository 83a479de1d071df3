import { invalidArgument, SandboxError } from "../errors.js";
import type { DirectoryTransferOptions, ExecResult } from "../sandbox.js";
import { abortedError } from "../ssh/semaphore.js";
import { checkOptionalBoolean, checkOptionsObject } from "../validate-options.js";

/** Longest part of the VM tar's stderr quoted in an error. */
const MAX_QUOTED_STDERR = 500;

/** Options after validation. */
export interface CheckedTransferOptions {
  exclude: string[];
  followSymlinks: boolean;
  signal: AbortSignal | undefined;
}

/** Validates {@link DirectoryTransferOptions} before any I/O. */
export function checkTransferOptions(
  options: DirectoryTransferOptions | undefined,
  method: string,
): CheckedTransferOptions {
  const checked = checkOptionsObject(options, `${method} options`);
  const { exclude = [], signal } = checked;
  if (!Array.isArray(exclude)) throw invalidArgument(`${method}: exclude must be an array of strings.`);
  for (const pattern of exclude) {
    if (
      typeof pattern !== "string" ||
      pattern.length === 0 ||
      pattern.includes("\0") ||
      pattern.includes("\n")
    ) {
      throw invalidArgument(
        `${method}: each exclude pattern must be a non-empty string without NUL or newline characters.`,
      );
    }
  }
  const followSymlinks = checkOptionalBoolean(checked.followSymlinks, `${method}: followSymlinks`) ?? false;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgument(`${method}: signal must be an AbortSignal.`);
  }
  return { exclude: [...exclude], followSymlinks, signal };
}

/** Throws `aborted` when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError(signal);
}

/**
 * Settles with `work`, or rejects with `aborted` as soon as the signal fires; `work` itself then
 * goes on (file transfers take no signal yet), and its caller cleans up once it settles.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** A host file-system error as a SandboxError (the extractor's and staging's own calls). */
export function localError(error: unknown, what: string): SandboxError {
  if (SandboxError.isInstance(error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const path = (error as NodeJS.ErrnoException).path;
  const mapped =
    code === "ENOENT"
      ? "not_found"
      : code === "EACCES" || code === "EPERM"
        ? "permission_denied"
        : code === "ENOTDIR"
          ? "not_a_directory"
          : code === "EEXIST" || code === "ENOTEMPTY"
            ? "already_exists"
            : "io_error";
  return new SandboxError(
    mapped,
    `${what} failed on this machine (${code ?? "error"}${path ? ` at ${path}` : ""}).`,
    {
      cause: error,
      details: path ? { path } : {},
    },
  );
}

/**
 * The error for a remote step that did not exit 0: `codes` maps the script's own exit statuses
 * (below 8) to outcomes; anything else is tar's failure, quoted from its stderr.
 */
export function remoteStepError(
  result: ExecResult,
  what: string,
  path: string,
  codes: Record<number, [SandboxError["code"], string]>,
): SandboxError {
  const known = codes[result.exitCode];
  if (known) return new SandboxError(known[0], known[1], { details: { path } });
  const stderr = result.stderr.trim().slice(0, MAX_QUOTED_STDERR);
  return new SandboxError(
    "io_error",
    `${what} on the VM exited with ${result.exitCode}${stderr ? `: ${stderr}` : ""}.`,
    { details: { path, exitCode: result.exitCode }, retryable: false },
  );
}
