import { invalidArgument } from "../errors.js";

/**
 * Quotes one word for a POSIX shell: wraps it in single quotes, so nothing inside is expanded.
 * A single quote inside becomes `'\''` (close, escaped quote, reopen).
 */
export function shellQuote(word: string): string {
  if (typeof word !== "string") throw invalidArgument("shellQuote needs a string.");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
