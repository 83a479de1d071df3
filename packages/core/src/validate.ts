import { invalidArgument } from "./errors.js";

// TextEncoder, not Buffer: these checks also run in the HTTPS sandbox, where Node may be absent.
const utf8 = new TextEncoder();
function utf8ByteLength(text: string): number {
  return utf8.encode(text).length;
}

/** Longest path the library sends; Linux's PATH_MAX. */
const MAX_PATH_BYTES = 4096;

/** A UTF-16 surrogate that is not half of a pair (`u` mode matches pairs as one code point). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Checks a remote path before any I/O and returns it tidied: repeated slashes and `.` segments
 * and a trailing slash removed. `..` segments are kept: only the machine knows what they mean
 * (`link/..` is the link target's parent, not the link's directory), so the path goes to the
 * server as written. Rejects empty, relative, over-long and NUL-containing paths, and strings
 * that are not valid Unicode (an unpaired surrogate would reach the server as U+FFFD).
 */
export function checkRemotePath(path: unknown, what = "path"): string {
  if (typeof path !== "string" || path.length === 0) {
    throw invalidArgument(`${what} must be a non-empty string.`);
  }
  if (path.includes("\0")) {
    throw invalidArgument(`${what} must not contain NUL bytes.`);
  }
  if (!path.startsWith("/")) {
    throw invalidArgument(`${what} must be an absolute path (starting with "/"); got a relative path.`, {
      path,
    });
  }
  if (LONE_SURROGATE.test(path)) {
    throw invalidArgument(`${what} contains an unpaired UTF-16 surrogate, which no file name can hold.`);
  }
  if (utf8ByteLength(path) > MAX_PATH_BYTES) {
    throw invalidArgument(`${what} is longer than ${MAX_PATH_BYTES} bytes.`);
  }
  return `/${path
    .split("/")
    .filter((segment) => segment !== "" && segment !== ".")
    .join("/")}`;
}

/** Checks a local path (used by upload/download) before any I/O. */
export function checkLocalPath(path: unknown, what = "localPath"): string {
  if (typeof path !== "string" || path.length === 0) {
    throw invalidArgument(`${what} must be a non-empty string.`);
  }
  if (path.includes("\0")) {
    throw invalidArgument(`${what} must not contain NUL bytes.`);
  }
  return path;
}

/** Checks a command string: non-empty, no NUL bytes. */
export function checkCommand(command: unknown): string {
  if (typeof command !== "string") {
    throw invalidArgument("command must be a string.");
  }
  if (command.trim().length === 0) {
    throw invalidArgument("command must not be empty.");
  }
  if (command.includes("\0")) {
    throw invalidArgument("command must not contain NUL bytes.");
  }
  return command;
}

/**
 * Checks the size of the whole remote command line (the command, `cwd` and `env` after quoting,
 * plus the wrapper) against the server's limit, before anything is sent: over it, OpenSSH fails
 * the command ("Argument list too long") or drops the whole connection, and Dropbear drops it.
 */
export function checkCommandLineBytes(line: string, limitBytes: number): void {
  const bytes = utf8ByteLength(line);
  if (bytes > limitBytes) {
    throw invalidArgument(
      `The command line (command, cwd and env, quoted) is ${bytes} bytes; this server takes at most ${limitBytes}. Pass large input through stdin or a file instead.`,
      { bytes, limitBytes },
    );
  }
}

/** The longest delay Node's timers keep (2^31 - 1 ms, ~24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Checks an optional duration option (`timeoutMs`, `readyTimeoutMs`, ...): a finite, non-negative
 * number of milliseconds, or undefined.
 */
export function checkDurationMs(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw invalidArgument(`${what} must be a finite, non-negative number of milliseconds.`, {
      [what]: value,
    });
  }
  if (value > MAX_TIMER_MS) {
    throw invalidArgument(`${what} must be at most ${MAX_TIMER_MS} ms (about 24 days).`, { [what]: value });
  }
  return value;
}

/** Checks a positive whole number option (`maxChannels`, `maxOutputBytes`, ...). */
export function checkPositiveInteger(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw invalidArgument(`${what} must be a whole number of at least 1.`, { [what]: value });
  }
  return value;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Checks environment variables: identifier names, string values without NUL. Values never appear in errors. */
export function checkEnv(env: unknown): Record<string, string> | undefined {
  if (env === undefined) return undefined;
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    throw invalidArgument("env must be an object of string values.");
  }
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) {
      throw invalidArgument(`env name ${JSON.stringify(name.slice(0, 64))} is not a valid shell identifier.`);
    }
    if (typeof value !== "string") {
      throw invalidArgument(`env value for ${name} must be a string.`);
    }
    if (value.includes("\0")) {
      throw invalidArgument(`env value for ${name} must not contain NUL bytes.`);
    }
  }
  return env as Record<string, string>;
}

/** Checks a file mode: a whole number of permission bits (0 to 0o7777). */
export function checkMode(mode: unknown): number | undefined {
  if (mode === undefined) return undefined;
  if (typeof mode !== "number" || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw invalidArgument("mode must be a whole number between 0 and 0o7777.");
  }
  return mode;
}
