// The API client's knobs for tests (quick backoff, a private token bucket). They sit under a
// symbol that is not exported from the package, so no user option can set them by accident and
// neither the public option types nor `Object.keys` of an options object show them.
import type { ExeDevApiOptions } from "./exe-dev-api.js";
import type { RateLimiterOptions } from "./rate-limiter.js";

/** The key of {@link ExeDevApiTestKnobs} on an options object. Not part of the public API. */
export const API_TEST_KNOBS: unique symbol = Symbol("@exedev-sandbox/core api test knobs");

/** Knobs for tests. Not part of the public API. */
export interface ExeDevApiTestKnobs {
  /** @default 1000 */
  retryBaseDelayMs?: number;
  /** @default 30000 */
  maxRetryDelayMs?: number;
  /** A private token bucket; by default clients with the same token and URL share exe.dev's 60/1 s bucket. */
  rateLimit?: RateLimiterOptions;
}

/** Public options plus test knobs, the shape tests write. */
export type ExeDevApiTestOptions = ExeDevApiOptions & ExeDevApiTestKnobs;

/** The knobs set on `options` by {@link withTestKnobs}; none for a user's options. */
export function testKnobsOf(options: ExeDevApiOptions): ExeDevApiTestKnobs {
  return (options as { [API_TEST_KNOBS]?: ExeDevApiTestKnobs })[API_TEST_KNOBS] ?? {};
}

/** Options for `createExeDevApi` with the knobs of `options` moved under {@link API_TEST_KNOBS}. */
export function withTestKnobs(options: ExeDevApiTestOptions): ExeDevApiOptions {
  const { retryBaseDelayMs, maxRetryDelayMs, rateLimit, ...rest } = options;
  return Object.assign(rest, { [API_TEST_KNOBS]: { retryBaseDelayMs, maxRetryDelayMs, rateLimit } });
}
