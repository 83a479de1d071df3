import { invalidArgument } from "../errors.js";
import type { ExposeLocalPortOptions, ForwardPortOptions } from "../reach.js";
import { checkSignal } from "./file-abort.js";

/** `forwardPort`'s arguments, checked before any I/O. */
export interface CheckedForward {
  remotePort: number;
  localPort: number;
  signal: AbortSignal | undefined;
}

/** `exposeLocalPort`'s arguments, checked before any I/O. */
export interface CheckedExpose {
  localPort: number;
  remotePort: number;
  localHost: string;
  signal: AbortSignal | undefined;
}

function checkPort(value: unknown, what: string, zeroOk: boolean): number {
  const low = zeroOk ? 0 : 1;
  if (typeof value !== "number" || !Number.isInteger(value) || value < low || value > 65_535) {
    throw invalidArgument(
      `${what} must be an integer from ${low} to 65535${zeroOk ? " (0 picks a free one)" : ""}.`,
    );
  }
  return value;
}

function checkOptions(options: unknown, what: string): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalidArgument(`${what} options must be an object.`);
  }
  return options as Record<string, unknown>;
}

function checkKnownKeys(options: Record<string, unknown>, known: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key))
      throw invalidArgument(`${what} has no option "${key}"; it takes ${known.join(", ")}.`);
  }
}

/** Checks `forwardPort(remotePort, options)`. */
export function checkForward(remotePort: unknown, options: ForwardPortOptions | undefined): CheckedForward {
  const checked = checkOptions(options, "forwardPort");
  checkKnownKeys(checked, ["localPort", "signal"], "forwardPort");
  return {
    remotePort: checkPort(remotePort, "remotePort", false),
    localPort: checked.localPort === undefined ? 0 : checkPort(checked.localPort, "localPort", true),
    signal: checkSignal(checked.signal),
  };
}

/** Checks `exposeLocalPort(localPort, options)`. */
export function checkExpose(localPort: unknown, options: ExposeLocalPortOptions | undefined): CheckedExpose {
  const checked = checkOptions(options, "exposeLocalPort");
  checkKnownKeys(checked, ["remotePort", "localHost", "signal"], "exposeLocalPort");
  const port = checkPort(localPort, "localPort", false);
  const localHost = checked.localHost ?? "127.0.0.1";
  if (typeof localHost !== "string" || localHost === "" || /[\s/]/.test(localHost)) {
    throw invalidArgument("localHost must be a host name or address, such as 127.0.0.1.");
  }
  return {
    localPort: port,
    remotePort: checked.remotePort === undefined ? port : checkPort(checked.remotePort, "remotePort", true),
    localHost,
    signal: checkSignal(checked.signal),
  };
}
