import { invalidArgument } from "../errors.js";
import type { ExeDevSandboxOptions } from "../exedev-sandbox.js";
import { checkDurationMs } from "../validate.js";
import { checkOptionalBoolean } from "../validate-options.js";

/** Options for {@link createSandboxPool}: the pool's sizes, plus how each VM is made. */
export interface SandboxPoolOptions extends Omit<ExeDevSandboxOptions, "vm" | "cleanup"> {
  /** How many sandboxes to keep created, connected and idle, ready for `acquire()`. */
  size: number;
  /** The most VMs the pool ever has at once: idle, being created and acquired together. @default size + 10 */
  max?: number;
  /**
   * `release()` gives a sandbox that still answers back to the pool (while fewer than `size` are
   * idle) instead of deleting its VM. What one user left in the VM, the next one sees.
   * @default false
   */
  reuse?: boolean;
  /** The first pause after a failed creation; each failure in a row doubles it, up to 30 s. @default 1000 */
  createRetryMs?: number;
  /** Creations in flight at once; the API client's token bucket (burst 60, 1/s) still applies. @default 4 */
  maxConcurrentCreates?: number;
}

/** Options for {@link SandboxPool.acquire}. */
export interface AcquireOptions {
  /** Rejects with `timeout` when no sandbox was handed out this long after the call. @default 600000 (10 minutes) */
  timeoutMs?: number;
  /** Aborting rejects with `aborted` (the sandbox it would have got stays in the pool). @default no signal */
  signal?: AbortSignal;
}

/** The pool's settings with defaults applied. */
export interface CheckedPoolOptions {
  size: number;
  max: number;
  reuse: boolean;
  createRetryMs: number;
  maxConcurrentCreates: number;
  /** What each creation passes to `createExeDevSandbox`. */
  sandbox: ExeDevSandboxOptions;
}

function checkCount(value: unknown, what: string, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > 1000) {
    throw invalidArgument(`${what} must be an integer from ${min} to 1000.`);
  }
  return value;
}

/** Checks the pool's own options; the VM and SSH options are checked by each creation's first call. */
export function checkPoolOptions(options: SandboxPoolOptions): CheckedPoolOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalidArgument("createSandboxPool needs an options object, e.g. { size: 2 }.");
  }
  const { size, max, reuse, createRetryMs, maxConcurrentCreates, ...sandbox } = options;
  const checkedSize = checkCount(size, "size", 0);
  const checkedMax = max === undefined ? checkedSize + 10 : checkCount(max, "max", 1);
  if (checkedMax < checkedSize)
    throw invalidArgument(`max (${checkedMax}) must be at least size (${checkedSize}).`);
  if ("vm" in options || "cleanup" in options) {
    throw invalidArgument(
      "A pool creates its own VMs and deletes them: it takes create or cloneFrom, not vm or cleanup.",
    );
  }
  if (sandbox.create === false)
    throw invalidArgument("create: false leaves the pool nothing to make; leave it out or pass VM options.");
  return {
    size: checkedSize,
    max: checkedMax,
    reuse: checkOptionalBoolean(reuse, "reuse") ?? false,
    createRetryMs: checkDurationMs(createRetryMs, "createRetryMs") ?? 1000,
    maxConcurrentCreates:
      maxConcurrentCreates === undefined ? 4 : checkCount(maxConcurrentCreates, "maxConcurrentCreates", 1),
    sandbox: {
      ...sandbox,
      ...(sandbox.cloneFrom === undefined && sandbox.create === undefined ? { create: true } : {}),
      cleanup: true,
    },
  };
}

/** Checks `acquire()`'s options before it waits. */
export function checkAcquireOptions(options: AcquireOptions | undefined): {
  timeoutMs: number;
  signal?: AbortSignal;
} {
  if (options === undefined) return { timeoutMs: 600_000 };
  if (typeof options !== "object" || options === null)
    throw invalidArgument("acquire options must be an object.");
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalidArgument("signal must be an AbortSignal.");
  }
  const timeoutMs = checkDurationMs(options.timeoutMs, "timeoutMs") ?? 600_000;
  return options.signal ? { timeoutMs, signal: options.signal } : { timeoutMs };
}
