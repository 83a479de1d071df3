/** Settings of a {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** Requests that may go out at once before the refill rate applies. @default 60 */
  burst?: number;
  /** Tokens added back per second. @default 1 */
  refillPerSecond?: number;
}

/** A client-side token bucket: callers wait for a token instead of failing. */
export interface RateLimiter {
  /** Resolves when the caller may send one request; callers are served first come, first served. */
  take(): Promise<void>;
  /** Empties the bucket, e.g. after a 429, so that queued callers slow down too. */
  drain(): void;
}

/** exe.dev's documented per-key bucket (May 2026 source): burst 60, one request per second. */
const DEFAULT_BURST = 60;
const DEFAULT_REFILL_PER_SECOND = 1;

/**
 * A token bucket matching exe.dev's own limiter, so that a busy client waits on its side instead
 * of collecting 429s (and the server's overdraft cooldown).
 */
export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const burst = options.burst ?? DEFAULT_BURST;
  const refillPerMs = (options.refillPerSecond ?? DEFAULT_REFILL_PER_SECOND) / 1000;
  if (!(burst >= 1) || !(refillPerMs > 0) || !Number.isFinite(burst) || !Number.isFinite(refillPerMs)) {
    throw new RangeError("rate limiter needs burst >= 1 and refillPerSecond > 0");
  }
  // Tokens may go negative: each waiter reserves its token up front, which keeps the queue fair.
  let tokens = burst;
  let updatedAt = performance.now();

  const refill = () => {
    const now = performance.now();
    tokens = Math.min(burst, tokens + (now - updatedAt) * refillPerMs);
    updatedAt = now;
  };

  return {
    take() {
      refill();
      tokens -= 1;
      if (tokens >= 0) return Promise.resolve();
      const waitMs = -tokens / refillPerMs;
      return new Promise((resolve) => setTimeout(resolve, Math.ceil(waitMs)));
    },
    drain() {
      refill();
      tokens = Math.min(tokens, 0);
    },
  };
}
