import { invalidArgument, SandboxError } from "./errors.js";
import { isSandboxGone } from "./sandbox-gone.js";

/** Options for {@link SandboxCache}. */
export interface SandboxCacheOptions<S> {
  /**
   * How a sandbox the cache lets go of (dropped as gone, replaced, closed) is released, e.g.
   * `(sandbox) => sandbox.dispose()` to also delete a VM the sandbox created.
   * @default (sandbox) => sandbox.close()
   */
  release?: (sandbox: S) => Promise<void>;
}

/** Options for {@link SandboxCache.close} and {@link SandboxCache.closeAll}. */
export interface SandboxCacheCloseOptions {
  /** Release the sandbox at once instead of after the work running on it through `use()` settles. @default false */
  cancelWork?: boolean;
}

interface Entry<S> {
  sandbox: Promise<S>;
  /** Set once the dial succeeded, so that `drop(key, sandbox)` can tell which sandbox it holds. */
  resolved?: S;
  work: Set<Promise<unknown>>;
}

function checkKey(key: unknown): string {
  if (typeof key !== "string") throw invalidArgument("A SandboxCache key must be a string.");
  return key;
}

function checkFunction(value: unknown, what: string): void {
  if (typeof value !== "function") throw invalidArgument(`${what} must be a function.`);
}

function defaultRelease(sandbox: unknown): Promise<void> {
  const close = (sandbox as { close?: unknown } | null)?.close;
  if (typeof close !== "function") {
    throw invalidArgument("SandboxCache holds an object without close(); pass the release option.");
  }
  return Promise.resolve(close.call(sandbox));
}

/** The one error for several failed releases: the first one's code, all of them as the cause. */
function releaseFailure(failures: unknown[]): unknown {
  if (failures.length === 1) return failures[0];
  const first = failures[0];
  const code = SandboxError.isInstance(first) ? first.code : "io_error";
  return new SandboxError(code, `${failures.length} cached sandboxes could not be released; see cause.`, {
    cause: new AggregateError(failures),
    details: { failed: failures.length },
  });
}

/**
 * Sandboxes kept by key (a VM, a lease, an agent id), so that consecutive users of one key share
 * one connection instead of dialling again:
 *
 * - Concurrent users of a key that has none share one dial; a dial that fails is not kept, so
 *   the next user dials again.
 * - A sandbox found gone ({@link isSandboxGone}: its connection died for good, or it was
 *   closed) by work run through {@link SandboxCache.use}, or reported with
 *   {@link SandboxCache.drop}, is dropped and released, and the next user of its key dials anew.
 * - {@link SandboxCache.close} waits for the key's running work (unless `cancelWork`) before
 *   releasing its sandbox; {@link SandboxCache.closeAll} closes every key and reports every
 *   release that failed, including those of sandboxes dropped earlier.
 *
 * @example
 * import { connectSandbox, type SshSandbox, SandboxCache } from "@exedev-sandbox/core";
 *
 * const cache = new SandboxCache<SshSandbox>();
 * const dial = () => connectSandbox({ host: "my-vm.exe.xyz" });
 * const { stdout } = await cache.use("my-vm", dial, (sandbox) => sandbox.exec("uname -a"));
 * console.log(stdout);
 * await cache.closeAll();
 */
export class SandboxCache<S> {
  readonly #entries = new Map<string, Entry<S>>();
  // Releases of dropped or replaced sandboxes; a failed one stays until closeAll() reports it.
  readonly #releasing = new Set<Promise<void>>();
  readonly #release: (sandbox: S) => Promise<void>;

  constructor(options: SandboxCacheOptions<S> = {}) {
    if (typeof options !== "object" || options === null) {
      throw invalidArgument("SandboxCache options must be an object.");
    }
    if (options.release !== undefined) checkFunction(options.release, "release");
    this.#release = options.release ?? defaultRelease;
  }

  /** How many keys hold a sandbox or a dial in flight. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether `key` holds a sandbox or a dial in flight. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * The sandbox of `key`: the cached one, the dial already in flight, or a new dial with `open`.
   * @throws SandboxError `invalid_argument` for a key that is not a string or an `open` that is not a function; else whatever `open` throws.
   */
  get(key: string, open: () => Promise<S>): Promise<S> {
    try {
      return this.#entry(checkKey(key), open).sandbox;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs `work` on the sandbox of `key` (dialled with `open` when there is none). While it runs,
   * `close(key)` waits for it; when it fails because the sandbox is gone, the sandbox is dropped
   * and the next call dials again. Resolves or rejects as `work` does.
   */
  async use<T>(key: string, open: () => Promise<S>, work: (sandbox: S) => Promise<T>): Promise<T> {
    checkFunction(work, "work");
    const entry = this.#entry(checkKey(key), open);
    const sandbox = await entry.sandbox;
    const running = (async () => work(sandbox))();
    entry.work.add(running);
    try {
      return await running;
    } catch (error) {
      if (isSandboxGone(error)) this.#forget(key, entry);
      throw error;
    } finally {
      entry.work.delete(running);
    }
  }

  /**
   * Caches a sandbox made elsewhere (e.g. the VM just created for a lease) under `key`. A
   * different sandbox cached there before is released; work running on it is kept track of.
   */
  set(key: string, sandbox: S): void {
    checkKey(key);
    const previous = this.#entries.get(key);
    const entry: Entry<S> = { sandbox: Promise.resolve(sandbox), resolved: sandbox, work: new Set() };
    if (previous) for (const running of previous.work) entry.work.add(running);
    this.#entries.set(key, entry);
    if (previous) {
      this.#track(
        previous.sandbox.then(
          (old) => (old === sandbox ? undefined : this.#release(old)),
          () => {}, // it never connected
        ),
      );
    }
  }

  /**
   * Drops the sandbox of `key` (only if it is `sandbox`, when given) and releases it in the
   * background: what to call when a sandbox turned out to be gone outside {@link SandboxCache.use}.
   * @returns whether anything was dropped.
   */
  drop(key: string, sandbox?: S): boolean {
    const entry = this.#entries.get(checkKey(key));
    if (!entry || (sandbox !== undefined && entry.resolved !== sandbox)) return false;
    this.#forget(key, entry);
    return true;
  }

  /**
   * Removes `key` and releases its sandbox (a dial in flight is awaited and released too), after
   * the work running on it settles unless `cancelWork` is set.
   * @throws whatever the release threw.
   */
  async close(key: string, options: SandboxCacheCloseOptions = {}): Promise<void> {
    const entry = this.#entries.get(checkKey(key));
    if (!entry) return;
    this.#entries.delete(key);
    if (!options.cancelWork) await Promise.allSettled([...entry.work]);
    let sandbox: S;
    try {
      sandbox = await entry.sandbox;
    } catch {
      return; // it never connected, so there is nothing to release
    }
    await this.#release(sandbox);
  }

  /**
   * Closes every key as {@link SandboxCache.close} does and waits for the releases of sandboxes
   * dropped earlier. The cache stays usable.
   * @throws the failed release, or a `SandboxError` (the first failure's code) holding them all as `cause`.
   */
  async closeAll(options: SandboxCacheCloseOptions = {}): Promise<void> {
    const closes = [...this.#entries.keys()].map((key) => this.close(key, options));
    const results = await Promise.allSettled([...closes, ...this.#releasing]);
    const failures = results.flatMap((result) => (result.status === "rejected" ? [result.reason] : []));
    this.#releasing.clear();
    if (failures.length > 0) throw releaseFailure(failures);
  }

  #entry(key: string, open: () => Promise<S>): Entry<S> {
    const cached = this.#entries.get(key);
    if (cached) return cached;
    checkFunction(open, "open");
    const entry: Entry<S> = { sandbox: (async () => open())(), work: new Set() };
    this.#entries.set(key, entry);
    entry.sandbox.then(
      (sandbox) => {
        entry.resolved = sandbox;
      },
      () => {
        // A failed dial is not cached: the next user dials again.
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return entry;
  }

  #forget(key: string, entry: Entry<S>): void {
    if (this.#entries.get(key) !== entry) return;
    this.#entries.delete(key);
    this.#track(
      entry.sandbox.then(
        (sandbox) => this.#release(sandbox),
        () => {}, // it never connected
      ),
    );
  }

  #track(release: Promise<void>): void {
    const tracked: Promise<void> = release.then(() => {
      this.#releasing.delete(tracked); // only failures wait for closeAll() to report them
    });
    tracked.catch(() => {});
    this.#releasing.add(tracked);
  }
}
