import { invalidArgument } from "../errors.js";
import type { TerminalOptions } from "../sandbox.js";
import { checkCommand, checkEnv, checkRemotePath } from "../validate.js";

/** Columns when `TerminalOptions.cols` is not given. */
export const DEFAULT_TERMINAL_COLS = 80;
/** Rows when `TerminalOptions.rows` is not given. */
export const DEFAULT_TERMINAL_ROWS = 24;
/** `TERM` when `TerminalOptions.term` is not given. */
export const DEFAULT_TERM = "xterm-256color";
/** The kernel keeps a terminal's size in `unsigned short` fields. */
const MAX_TERMINAL_SIDE = 65_535;
/** What a terminfo name can look like: no spaces, quotes or shell syntax, so it is safe anywhere. */
const TERM_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

/** A terminal's options, checked, with defaults applied. */
export interface CheckedTerminal {
  cols: number;
  rows: number;
  command: string | undefined;
  env: Record<string, string> | undefined;
  cwd: string | undefined;
  term: string;
}

/** Checks a terminal side (`cols`, `rows`): a whole number from 1 to 65535. */
export function checkTerminalSide(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_TERMINAL_SIDE) {
    throw invalidArgument(`${what} must be a whole number from 1 to ${MAX_TERMINAL_SIDE}.`, {
      [what]: value,
    });
  }
  return value;
}

/** Checks {@link TerminalOptions} before any I/O; env values never appear in errors. */
export function checkTerminalOptions(options: unknown): CheckedTerminal {
  if (options === undefined) options = {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalidArgument("openTerminal options must be an object.");
  }
  const given = options as TerminalOptions;
  const term = given.term ?? DEFAULT_TERM;
  if (typeof term !== "string" || !TERM_NAME.test(term)) {
    throw invalidArgument(
      "term must be a terminal type name such as xterm-256color (letters, digits, . _ + -).",
    );
  }
  return {
    cols: given.cols === undefined ? DEFAULT_TERMINAL_COLS : checkTerminalSide(given.cols, "cols"),
    rows: given.rows === undefined ? DEFAULT_TERMINAL_ROWS : checkTerminalSide(given.rows, "rows"),
    command: given.command === undefined ? undefined : checkCommand(given.command),
    env: checkEnv(given.env),
    cwd: given.cwd === undefined ? undefined : checkRemotePath(given.cwd, "cwd"),
    term,
  };
}
