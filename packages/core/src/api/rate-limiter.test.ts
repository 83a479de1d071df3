import { type LobbyServer, startLobbyServer } from "@exedev-sandbox/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createExeDevApi, type ExeDevApiOptions } from "./exe-dev-api.js";
import { createRateLimiter } from "./rate-limiter.js";
import { withTestKnobs } from "./test-knobs.js";

// The bucket's arithmetic runs on a fake clock: measured on the real one, a busy machine (or a GC
// pause between two awaits) made "at once" checks such as "< 15 ms" fail now and then.
describe("createRateLimiter", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Starts `count` takes and records, per caller, the fake time at which each was let through. */
  function takeAll(limiter: ReturnType<typeof createRateLimiter>, count: number): Array<[number, number]> {
    const started = performance.now();
    const finished: Array<[number, number]> = [];
    for (let index = 0; index < count; index++) {
      void limiter.take().then(() => finished.push([index, performance.now() - started]));
    }
    return finished;
  }

  it("lets a burst through at once, then spaces callers by the refill rate, in order", async () => {
    const limiter = createRateLimiter({ burst: 3, refillPerSecond: 20 });
    const finished = takeAll(limiter, 6);
    await vi.advanceTimersByTimeAsync(0);
    expect(finished).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
    ]);
    await vi.advanceTimersByTimeAsync(49);
    expect(finished).toHaveLength(3);
    // Callers 4, 5, 6 wait one, two and three refill intervals (50 ms each).
    await vi.advanceTimersByTimeAsync(101);
    expect(finished).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
      [3, 50],
      [4, 100],
      [5, 150],
    ]);
  });

  it("refills over time up to the burst size", async () => {
    const limiter = createRateLimiter({ burst: 2, refillPerSecond: 50 });
    await limiter.take();
    await limiter.take();
    await vi.advanceTimersByTimeAsync(120);
    // 120 ms refill 6 tokens, capped at the burst of 2: two pass at once, the third waits 20 ms.
    const finished = takeAll(limiter, 3);
    await vi.advanceTimersByTimeAsync(0);
    expect(finished).toEqual([
      [0, 0],
      [1, 0],
    ]);
    await vi.advanceTimersByTimeAsync(20);
    expect(finished).toEqual([
      [0, 0],
      [1, 0],
      [2, 20],
    ]);
  });

  it("empties the bucket on drain, so the next caller waits", async () => {
    const limiter = createRateLimiter({ burst: 5, refillPerSecond: 20 });
    limiter.drain();
    const finished = takeAll(limiter, 1);
    await vi.advanceTimersByTimeAsync(49);
    expect(finished).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(finished).toEqual([[0, 50]]);
  });

  it("refuses nonsense settings", () => {
    expect(() => createRateLimiter({ burst: 0 })).toThrow(RangeError);
    expect(() => createRateLimiter({ refillPerSecond: 0 })).toThrow(RangeError);
    expect(() => createRateLimiter({ burst: Number.NaN })).toThrow(RangeError);
  });
});

describe("the client's rate limiting", () => {
  let server: LobbyServer;
  beforeAll(async () => {
    server = await startLobbyServer();
  });
  afterAll(() => server.close());

  it("makes calls wait for a token instead of failing", async () => {
    const api = createExeDevApi(
      withTestKnobs({
        token: server.token,
        baseUrl: server.url,
        rateLimit: { burst: 2, refillPerSecond: 10 },
      }),
    );
    const arrivals: number[] = [];
    server.intercept = () => {
      arrivals.push(performance.now());
      return undefined;
    };
    try {
      const started = performance.now();
      const results = await Promise.all(Array.from({ length: 5 }, () => api.listVms()));
      expect(results).toHaveLength(5);
      expect(performance.now() - started).toBeGreaterThanOrEqual(280);
      expect(arrivals).toHaveLength(5);
      // Burst 2 at 10/s: the 3rd, 4th and 5th calls reserve tokens due 100, 200 and 300 ms after
      // the start, so the last cannot reach the server earlier. (Measuring from the first
      // arrival instead made the test depend on how fast the first request got through.)
      const sorted = [...arrivals].sort((a, b) => a - b);
      expect(sorted[4]! - started).toBeGreaterThanOrEqual(299);
      expect(sorted[2]! - started).toBeGreaterThanOrEqual(99);
    } finally {
      server.intercept = undefined;
    }
  });

  it("shares exe.dev's default bucket (burst 60, 1/s) between clients with the same token and URL", async () => {
    const options = { token: server.token, baseUrl: server.url };
    const first = createExeDevApi(options);
    const second = createExeDevApi(options);
    // Measured from before the first call: 62 calls on a bucket of 60 refilled at 1/s cannot all
    // be sent sooner than 2 s after it, however long the first 60 took. (Measuring from after
    // them failed on a loaded machine, where they took half a second of the refill.)
    const drainStarted = performance.now();
    await Promise.all(Array.from({ length: 30 }, () => first.whoami()));
    await Promise.all(Array.from({ length: 30 }, () => second.whoami()));
    // Another token has a bucket of its own: its call is answered while the first client still
    // waits for its refills (an order, with seconds of margin, not a tight wall-clock bound).
    const other = createExeDevApi({ ...options, token: "exe0.another-token", maxRetries: 0 });
    const order: string[] = [];
    await Promise.all([
      first
        .whoami()
        .then(() => first.whoami())
        .then(() => order.push("first")),
      expect(other.whoami())
        .rejects.toMatchObject({ code: "auth_failed" })
        .then(() => order.push("other")),
    ]);
    expect(performance.now() - drainStarted).toBeGreaterThanOrEqual(1999);
    expect(order).toEqual(["other", "first"]);
  });

  it("reads its test knobs only from the private key, never from ordinary options", async () => {
    const own = await startLobbyServer();
    try {
      // Read as options, this bucket would make the second call wait 100 s for a token.
      const knobs = { rateLimit: { burst: 1, refillPerSecond: 0.01 }, retryBaseDelayMs: 600_000 };
      const plain = createExeDevApi({ token: own.token, baseUrl: own.url, ...knobs } as ExeDevApiOptions);
      let timer: NodeJS.Timeout | undefined;
      const tooLate = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("the calls waited for the bucket of an ordinary option")),
          10_000,
        );
      });
      try {
        await Promise.race([Promise.all([plain.listVms(), plain.listVms(), plain.listVms()]), tooLate]);
      } finally {
        clearTimeout(timer);
      }
      expect(own.requests).toHaveLength(3);

      const options = withTestKnobs({
        token: own.token,
        baseUrl: own.url,
        rateLimit: { burst: 1, refillPerSecond: 4 },
      });
      expect(Object.keys(options)).toEqual(["token", "baseUrl"]);
      const limited = createExeDevApi(options);
      const limitedStart = performance.now();
      await Promise.all([limited.listVms(), limited.listVms()]);
      expect(performance.now() - limitedStart).toBeGreaterThanOrEqual(240);
    } finally {
      await own.close();
    }
  });
});
