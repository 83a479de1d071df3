import { invalidArgument, type SandboxError } from "../errors.js";
import type { MkdirOptions, ReadFileOptions, RmOptions, WriteFileOptions } from "../sandbox.js";
import { checkMode, checkRemotePath } from "../validate.js";
import { checkOptionalBoolean, checkOptionsObject } from "../validate-options.js";

// The argument checks of the file methods, shared by both transports so that bad input gets the
// same error, before any I/O, whichever one is in use.

/** The default of {@link ReadFileOptions.maxBytes}: 64 MiB. */
export const DEFAULT_MAX_READ_BYTES: number = 64 * 1024 * 1024;

function checkMaxBytes(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_READ_BYTES;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument("maxBytes must be a whole number of bytes (0 or more).", { maxBytes: value });
  }
  // One Buffer holds the whole file; Node cannot allocate more than this.
  const limit = 2 ** 32;
  if (value > limit) throw invalidArgument(`maxBytes must be at most ${limit} bytes.`, { maxBytes: value });
  return value;
}

/** `readFile`'s path and limit. */
export function checkRead(
  path: unknown,
  options: ReadFileOptions = {},
): { target: string; maxBytes: number } {
  const target = checkRemotePath(path);
  return { target, maxBytes: checkMaxBytes(checkOptionsObject(options, "readFile options").maxBytes) };
}

/** `writeFile`'s path, bytes and mode. */
export function checkWrite(
  path: unknown,
  data: unknown,
  options: WriteFileOptions = {},
): { target: string; bytes: Buffer; mode: number | undefined } {
  const target = checkRemotePath(path);
  if (typeof data !== "string" && !(data instanceof Uint8Array)) {
    throw invalidArgument("writeFile data must be a string or a Uint8Array.");
  }
  const mode = checkMode(checkOptionsObject(options, "writeFile options").mode);
  const bytes =
    typeof data === "string"
      ? Buffer.from(data, "utf8")
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { target, bytes, mode };
}

/** `mkdir`'s path and whether it is recursive. */
export function checkMkdir(
  path: unknown,
  options: MkdirOptions = {},
): { target: string; recursive: boolean } {
  const target = checkRemotePath(path);
  const recursive = checkOptionalBoolean(checkOptionsObject(options, "mkdir options").recursive, "recursive");
  return { target, recursive: recursive === true };
}

/** `rm`'s path and flags. */
export function checkRm(
  path: unknown,
  options: RmOptions = {},
): { given: string; recursive: boolean; force: boolean } {
  const given = checkRemotePath(path);
  checkOptionsObject(options, "rm options");
  return {
    given,
    recursive: checkOptionalBoolean(options.recursive, "recursive") === true,
    force: checkOptionalBoolean(options.force, "force") === true,
  };
}

/** A path that ends in `/`, `/.` or `/..`: it names a directory itself, through a final link too. */
export const NAMES_DIRECTORY_ITSELF: RegExp = /\/(\.{1,2})?\/*$/;

/** The `invalid_argument` error for an `rm` of the root or the home directory. */
export function refusedRm(target: string, given: string): SandboxError {
  return invalidArgument(
    `rm refuses to remove ${target === "/" ? "the root directory" : "the home directory"}.`,
    { path: given },
  );
}
