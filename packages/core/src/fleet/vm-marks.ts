import { invalidArgument } from "../errors.js";

/** The tag on every VM this library creates, so that {@link reapVms} can tell them from others. */
export const CREATED_VM_TAG = "exedev-sandbox";
/** Prefix of the expiry tag: `exedev-expires-<unix seconds>`, the moment after which the VM may be reaped. */
export const EXPIRY_TAG_PREFIX = "exedev-expires-";
/** A created VM's lifetime when `ttlMs` is not given: a long agent session, yet a leak costs at most a day. */
export const DEFAULT_TTL_MS: number = 24 * 60 * 60 * 1000;

const EXPIRY_TAG = /^exedev-expires-(\d{1,12})$/;
// Tags carry seconds; checkDurationMs stops at Node's timer limit, which is far too short for a lifetime.
const MAX_TTL_MS = 10 * 365 * 24 * 60 * 60 * 1000;

/**
 * Checks a `ttlMs` option: a positive number of milliseconds (at most ten years), or `null` /
 * `Infinity` for a VM that never expires (it is still marked, so `reap --older-than` finds it).
 * @returns the lifetime, or undefined for none
 */
export function checkTtlMs(value: unknown, what = "ttlMs"): number | undefined {
  if (value === undefined) return DEFAULT_TTL_MS;
  if (value === null || value === Number.POSITIVE_INFINITY) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > MAX_TTL_MS) {
    throw invalidArgument(`${what} must be a positive number of milliseconds (at most ten years), or null.`, {
      [what]: typeof value === "number" ? value : typeof value,
    });
  }
  return value;
}

/** The expiry tag for a moment (rounded up to the next second, so a VM never expires early). */
export function expiryTag(expiresAtMs: number): string {
  return `${EXPIRY_TAG_PREFIX}${Math.ceil(expiresAtMs / 1000)}`;
}

/** The tags that mark a VM created now with this lifetime. */
export function markTags(ttlMs: number | undefined, nowMs: number = Date.now()): string[] {
  return ttlMs === undefined ? [CREATED_VM_TAG] : [CREATED_VM_TAG, expiryTag(nowMs + ttlMs)];
}

/** The expiry tags among a VM's tags (normally one; more after a copy or a lost answer). */
export function expiryTagsOf(tags: readonly string[]): string[] {
  return tags.filter((tag) => EXPIRY_TAG.test(tag));
}

/** When the VM expires (ms since the epoch), from its tags: the latest expiry tag wins; undefined when none. */
export function expiryOf(tags: readonly string[]): number | undefined {
  const seconds = expiryTagsOf(tags).map((tag) => Number(EXPIRY_TAG.exec(tag)![1]));
  return seconds.length === 0 ? undefined : Math.max(...seconds) * 1000;
}

/** Checks `extendTtl`'s argument: positive milliseconds. */
export function checkExtendMs(ms: unknown): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0 || ms > MAX_TTL_MS) {
    throw invalidArgument("extendTtl(ms) needs a positive number of milliseconds (at most ten years).");
  }
  return ms;
}
