import { createExeDevApi } from "../api/exe-dev-api.js";
import { isSandboxError, SandboxError } from "../errors.js";
import { planExeDevSandbox } from "../exedev-options.js";
import { createExeDevSandbox, type ExeDevSandbox, type ExeDevSandboxOptions } from "../exedev-sandbox.js";
import { abortedError } from "../ssh/semaphore.js";
import {
  type AcquireOptions,
  type CheckedPoolOptions,
  checkAcquireOptions,
  checkPoolOptions,
  type SandboxPoolOptions,
} from "./pool-options.js";

/** The longest pause between two failed creations. */
const MAX_CREATE_RETRY_MS = 30_000;
/** How long `release()` with `reuse` waits for a sandbox to answer before deleting it instead. */
const REUSE_CHECK_MS = 5_000;
/** Failures no retry can mend: the pool stops creating and says why. */
const FATAL_CODES = new Set(["invalid_argument", "auth_failed", "permission_denied", "host_key_mismatch"]);

/** What a pool holds right now. */
export interface SandboxPoolStats {
  /** Created, connected and idle. */
  ready: number;
  /** Being created. */
  creating: number;
  /** Handed out by `acquire()` and not released yet. */
  acquired: number;
  /** Callers of `acquire()` waiting for a sandbox. */
  waiting: number;
  /** The most VMs the pool has at once. */
  max: number;
  /** Creations that failed since the pool started. */
  failedCreates: number;
  /** The code of the last failed creation, if any. */
  lastErrorCode?: string;
  /** Whether `close()` was called. */
  closed: boolean;
}

/** A warm pool of exe.dev sandboxes; see {@link createSandboxPool}. */
export interface SandboxPool {
  /** A sandbox whose VM is created, ready and connected: at once when the pool is warm. */
  acquire(options?: AcquireOptions): Promise<ExeDevSandbox>;
  /** Hands a sandbox back: its VM is deleted (or, with `reuse`, kept for the next caller). */
  release(sandbox: ExeDevSandbox): Promise<void>;
  /** Resolves once `size` sandboxes are ready (rejects when the pool closes or cannot create). */
  warm(): Promise<void>;
  /** What the pool holds right now. */
  stats(): SandboxPoolStats;
  /** Stops creating, rejects waiting `acquire()` calls with `closed`, and deletes every VM the pool made, acquired ones included. Idempotent. */
  close(): Promise<void>;
  /** Same as {@link SandboxPool.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

interface Waiter {
  resolve(sandbox: ExeDevSandbox): void;
  reject(error: Error): void;
}

function closedError(): SandboxError {
  return new SandboxError("closed", "The sandbox pool was closed; create a new one to continue.", {
    retryable: false,
  });
}

/**
 * Keeps `size` exe.dev sandboxes created and connected, so `acquire()` costs no VM creation.
 * The pool refills in the background after each `acquire()`, never has more than `max` VMs,
 * backs off after failed creations (doubling from `createRetryMs` up to 30 s, and the API
 * client's token bucket paces every request), and deletes what it made on `close()`.
 *
 * @example
 * await using pool = createSandboxPool({ size: 2, create: { image: "exeuntu" } });
 * const sandbox = await pool.acquire();
 * console.log((await sandbox.exec("uname -a")).stdout);
 * await pool.release(sandbox);
 */
export function createSandboxPool(options: SandboxPoolOptions): SandboxPool {
  const checked = checkPoolOptions(options);
  // One API client for every creation: one token bucket, one place that retries.
  const api = checked.sandbox.api ?? createExeDevApi();
  const sandboxOptions: ExeDevSandboxOptions = { ...checked.sandbox, api };
  // Every option is checked now, before the first creation: bad input never reaches the API.
  planExeDevSandbox(sandboxOptions, process.env);
  return new WarmPool(checked, () => createExeDevSandbox(sandboxOptions));
}

class WarmPool implements SandboxPool {
  readonly #ready: ExeDevSandbox[] = [];
  readonly #acquired = new Set<ExeDevSandbox>();
  readonly #waiters: Waiter[] = [];
  readonly #warmWaiters: Waiter[] = [];
  readonly #creations = new Set<Promise<void>>();
  #creating = 0;
  #failedCreates = 0;
  #failuresInARow = 0;
  #lastError: unknown;
  #fatal: SandboxError | undefined;
  #retryAt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    private readonly options: CheckedPoolOptions,
    private readonly create: () => Promise<ExeDevSandbox>,
  ) {
    this.#pump();
  }

  acquire(options?: AcquireOptions): Promise<ExeDevSandbox> {
    let checked: ReturnType<typeof checkAcquireOptions>;
    try {
      checked = checkAcquireOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing) return Promise.reject(closedError());
    if (this.#fatal) return Promise.reject(this.#fatal);
    const { timeoutMs, signal } = checked;
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    return new Promise<ExeDevSandbox>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      };
      const waiter: Waiter = {
        resolve: (sandbox) => {
          settle();
          resolve(sandbox);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const onAbort = (): void => waiter.reject(abortedError(signal));
      const timer = setTimeout(() => {
        const code = isSandboxError(this.#lastError)
          ? ` (the last creation failed: ${this.#lastError.code})`
          : "";
        waiter.reject(
          new SandboxError("timeout", `No sandbox was free within ${timeoutMs} ms${code}.`, {
            cause: this.#lastError instanceof Error ? this.#lastError : undefined,
            details: { ...this.stats() },
          }),
        );
      }, timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  async release(sandbox: ExeDevSandbox): Promise<void> {
    if (!this.#acquired.has(sandbox)) {
      throw new SandboxError(
        "invalid_argument",
        "release() takes a sandbox this pool's acquire() returned, once.",
      );
    }
    this.#acquired.delete(sandbox);
    try {
      if (
        this.options.reuse &&
        !this.#closing &&
        this.#ready.length < this.options.size &&
        (await answers(sandbox))
      ) {
        this.#ready.push(sandbox);
        return;
      }
      await sandbox.dispose();
    } finally {
      this.#pump();
    }
  }

  warm(): Promise<void> {
    if (this.#closing) return Promise.reject(closedError());
    if (this.#fatal) return Promise.reject(this.#fatal);
    if (this.#ready.length >= this.options.size) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#warmWaiters.push({ resolve: () => resolve(), reject });
    });
  }

  stats(): SandboxPoolStats {
    return {
      ready: this.#ready.length,
      creating: this.#creating,
      acquired: this.#acquired.size,
      waiting: this.#waiters.length,
      max: this.options.max,
      failedCreates: this.#failedCreates,
      ...(isSandboxError(this.#lastError) ? { lastErrorCode: this.#lastError.code } : {}),
      closed: this.#closing !== undefined,
    };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#retryTimer);
      for (const waiter of [...this.#waiters, ...this.#warmWaiters.splice(0)]) waiter.reject(closedError());
      // Creations in flight delete their VM when they land (see #createOne).
      const held = [...this.#ready.splice(0), ...this.#acquired];
      this.#acquired.clear();
      const results = await Promise.allSettled([
        ...held.map((sandbox) => sandbox.dispose()),
        ...this.#creations,
      ]);
      const failed = results.find((result) => result.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Hands idle sandboxes to waiters, then starts the creations the pool is short of. */
  #pump(): void {
    while (this.#waiters.length > 0 && this.#ready.length > 0) {
      const sandbox = this.#ready.shift() as ExeDevSandbox;
      this.#acquired.add(sandbox);
      this.#waiters[0]?.resolve(sandbox);
    }
    if (this.#ready.length >= this.options.size) {
      for (const waiter of this.#warmWaiters.splice(0)) waiter.resolve(undefined as never);
    }
    if (this.#closing || this.#fatal) return;
    const wanted = this.options.size + this.#waiters.length - this.#ready.length - this.#creating;
    const room = this.options.max - this.#ready.length - this.#creating - this.#acquired.size;
    let starts = Math.min(wanted, room, this.options.maxConcurrentCreates - this.#creating);
    if (starts <= 0) return;
    const waitMs = this.#retryAt - Date.now();
    if (waitMs > 0) {
      this.#retryTimer ??= setTimeout(() => {
        this.#retryTimer = undefined;
        this.#pump();
      }, waitMs);
      // A pool that only refills never keeps the process alive; a waiting acquire() does.
      if (this.#waiters.length === 0) this.#retryTimer.unref();
      return;
    }
    // After a failure, one creation probes whether the API works again before the rest follow.
    if (this.#failuresInARow > 0) starts = 1;
    for (; starts > 0; starts--) this.#createOne();
  }

  #createOne(): void {
    this.#creating++;
    const creation = this.create().then(
      async (sandbox) => {
        this.#creating--;
        this.#failuresInARow = 0;
        if (this.#closing) {
          await sandbox.dispose();
          return;
        }
        this.#ready.push(sandbox);
        this.#pump();
      },
      (error: unknown) => {
        this.#creating--;
        this.#failedCreates++;
        this.#failuresInARow++;
        this.#lastError = error;
        if (this.#closing) return;
        if (isSandboxError(error) && FATAL_CODES.has(error.code)) {
          this.#fatal = error;
          for (const waiter of [...this.#waiters, ...this.#warmWaiters.splice(0)]) waiter.reject(error);
          return;
        }
        const pauseMs = Math.min(
          this.options.createRetryMs * 2 ** (this.#failuresInARow - 1),
          MAX_CREATE_RETRY_MS,
        );
        this.#retryAt = Date.now() + pauseMs;
        this.#pump();
      },
    );
    const tracked = creation.finally(() => this.#creations.delete(tracked));
    this.#creations.add(tracked);
  }
}

/** Whether a sandbox handed back still runs a command (so it may be lent again). */
async function answers(sandbox: ExeDevSandbox): Promise<boolean> {
  try {
    const result = await sandbox.exec("true", { timeoutMs: REUSE_CHECK_MS });
    return result.exitCode === 0;
  } catch {
    return false;
  }
}
