/**
 * exe.dev's `/exec` rate limit: one token bucket per SSH key fingerprint, 60 requests of burst,
 * refilled at one per second.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /**
   * @param burst - Requests a full bucket holds. @default 60
   * @param perSecond - Requests added back per second. @default 1
   */
  constructor(
    private readonly burst = 60,
    private readonly perSecond = 1,
  ) {}

  /**
   * Takes one request from `key`'s bucket; false when it is empty.
   * @param now - The time, in ms. @default Date.now()
   */
  take(key: string, now: number = Date.now()): boolean {
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
