import { SandboxError } from "../errors.js";

/** A counting semaphore with a FIFO queue; waiting can be abandoned through an AbortSignal. */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<{ grant: () => void }> = [];

  constructor(private capacity: number) {}

  /** How many permits are held right now. */
  get inUse(): number {
    return this.active;
  }

  /** Waits for a permit and returns the function that gives it back (idempotent). */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw abortedError(signal);
    if (this.active < this.capacity) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(abortedError(signal));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // Hand the permit straight to the next waiter, so the count never dips and refills.
      if (next) next.grant();
      else this.active--;
    };
  }
}

/** The error an abort produces; the reason is kept as `cause` only when it is an Error. */
export function abortedError(signal?: AbortSignal): SandboxError {
  const reason: unknown = signal?.reason;
  return new SandboxError("aborted", "The operation was aborted.", {
    cause: reason instanceof Error ? reason : undefined,
  });
}

/**
 * Resolves after `ms`. The timer is ref'd on purpose: whoever sleeps here is a caller's pending
 * work (a reconnect back-off, a refused channel open), and a plain script awaiting that work
 * must not exit with "unsettled top-level await" while it waits.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
