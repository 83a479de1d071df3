import { type LobbyServer, startLobbyServer } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExeDevApi, type ExeDevApiTestOptions } from "./exe-dev-api.js";
import { createRateLimiter } from "./rate-limiter.js";

describe("createRateLimiter", () => {
  it("lets a burst through at once, then spaces callers by the refill rate, in order", async () => {
    const limiter = createRateLimiter({ burst: 3, refillPerSecond: 20 });
    const started = performance.now();
    const finished: Array<[number, number]> = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        limiter.take().then(() => finished.push([index, performance.now() - started])),
      ),
    );
    expect(finished.map(([index]) => index)).toEqual([0, 1, 2, 3, 4, 5]);
    const times = finished.map(([, ms]) => ms);
    expect(times[2]).toBeLessThan(30);
    // Callers 4, 5, 6 wait one, two and three refill intervals (50 ms each).
    expect(times[3]).toBeGreaterThanOrEqual(45);
    expect(times[5]).toBeGreaterThanOrEqual(145);
    expect(times[5]).toBeLessThan(400);
  });

  it("refills over time up to the burst size", async () => {
    const limiter = createRateLimiter({ burst: 2, refillPerSecond: 50 });
    await limiter.take();
    await limiter.take();
    await new Promise((resolve) => setTimeout(resolve, 120));
    const started = performance.now();
    await limiter.take();
    await limiter.take();
    expect(performance.now() - started).toBeLessThan(15);
  });

  it("empties the bucket on drain, so the next caller waits", async () => {
    const limiter = createRateLimiter({ burst: 5, refillPerSecond: 20 });
    limiter.drain();
    const started = performance.now();
    await limiter.take();
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
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
    const api = createExeDevApi({
      token: server.token,
      baseUrl: server.url,
      rateLimit: { burst: 2, refillPerSecond: 10 },
    } as ExeDevApiTestOptions);
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
    await Promise.all(Array.from({ length: 30 }, () => first.whoami()));
    await Promise.all(Array.from({ length: 30 }, () => second.whoami()));
    const started = performance.now();
    await first.whoami();
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);
    // Another token has a bucket of its own.
    const other = createExeDevApi({ ...options, token: "exe0.another-token", maxRetries: 0 });
    const otherStarted = performance.now();
    await expect(other.whoami()).rejects.toMatchObject({ code: "auth_failed" });
    expect(performance.now() - otherStarted).toBeLessThan(200);
  });
});
