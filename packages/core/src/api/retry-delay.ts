/** Settings for the wait between two attempts. */
export interface RetryDelayOptions {
  /** Wait before the first retry; doubles with each further one. */
  baseDelayMs: number;
  /** Longest computed wait (a server's `Retry-After` may ask for more). */
  maxDelayMs: number;
}

/**
 * Exponential backoff with jitter: `base * 2^retry` capped at `maxDelayMs`, then a random
 * 50–100 % of it, so that clients that failed together do not come back together.
 */
export function backoffDelayMs(retry: number, options: RetryDelayOptions): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retry);
  return Math.round(ceiling * (0.5 + Math.random() * 0.5));
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
