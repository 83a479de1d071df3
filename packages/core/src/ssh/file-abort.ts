import { invalidArgument, type SandboxError } from "../errors.js";
import { abortedError } from "./semaphore.js";

// The `signal` of the file methods, shared by both transports. The caller's promise settles as
// soon as the signal fires, whatever the connection does (a frozen one answers nothing); the
// transport's own work goes on in the background only to clean up (close a handle, remove a temp
// file) and never makes an aborted write visible.

/** Checks a `signal` option before any I/O. */
export function checkSignal(value: unknown): AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw invalidArgument("signal must be an AbortSignal.");
  }
  return value;
}

/** The checked `signal` of an optional options object. */
export function signalOf(options: unknown, what: string): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalidArgument(`${what} must be an object.`);
  }
  return checkSignal((options as { signal?: unknown }).signal);
}

/** Throws `aborted` when `signal` has fired (a checkpoint between two steps of the work). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError(signal);
}

/**
 * Runs `work`, rejecting with `aborted` as soon as `signal` fires (at once when it already has,
 * before `work` starts). `work` gets the signal to stop its own I/O; what it still does after
 * the abort is ignored, its rejection included.
 */
export function abortable<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  if (!signal) return work();
  if (signal.aborted) return Promise.reject(abortedError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    work().then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** Calls `listener` once when `signal` fires; returns the function that stops listening. */
export function onAbort(
  signal: AbortSignal | undefined,
  listener: (error: SandboxError) => void,
): () => void {
  if (!signal) return () => {};
  const fire = (): void => listener(abortedError(signal));
  if (signal.aborted) {
    queueMicrotask(fire);
    return () => {};
  }
  signal.addEventListener("abort", fire, { once: true });
  return () => signal.removeEventListener("abort", fire);
}

/**
 * Calls `listener` when `abort()` is called on the writable stream of `controller`: at once,
 * even while a write is still in flight (the stream calls its sink's `abort` only once that write
 * settled, which a connection that stopped answering never lets happen). The TypeScript DOM
 * types lack `controller.signal`; Node has it since 17.
 */
export function onStreamAbort(
  controller: WritableStreamDefaultController,
  listener: (reason: unknown) => void,
): void {
  const signal = (controller as { signal?: AbortSignal }).signal;
  signal?.addEventListener("abort", () => listener(signal.reason), { once: true });
}
