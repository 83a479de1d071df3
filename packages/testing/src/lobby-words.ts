// The lobby's own reading of a command line, for test servers that speak its protocol and for
// tests of the lines core builds (core's api/command-line.ts). Not part of core's public API:
// only servers read command lines.
import { SandboxError } from "@exedev-sandbox/core";

const invalidArgument = (message: string): SandboxError => new SandboxError("invalid_argument", message);

/**
 * Splits a command line the way the lobby does (github.com/anmitsu/go-shlex, posix mode,
 * whitespace split): single quotes are literal, double quotes allow `\"` and `\\`, a backslash
 * outside quotes escapes the next character, and empty words are dropped.
 */
export function splitLobbyWords(line: string): string[] {
  if (typeof line !== "string") throw invalidArgument("splitLobbyWords needs a string.");
  const words: string[] = [];
  // Go's unicode.IsSpace, which differs from JavaScript's \s (U+0085 yes, U+FEFF no).
  const isSpace = (char: string) =>
    /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(char);
  const chars = [...line];
  let index = 0;
  while (index < chars.length) {
    let token = "";
    let state: "space" | "word" | "'" | '"' | "escape" = "space";
    let escapedFrom: "word" | '"' = "word";
    for (; index < chars.length; index++) {
      const char = chars[index] as string;
      if (state === "space") {
        if (isSpace(char)) {
          index++;
          break;
        }
        if (char === "\\") {
          escapedFrom = "word";
          state = "escape";
        } else if (char === "'" || char === '"') {
          state = char;
        } else {
          token += char;
          state = "word";
        }
      } else if (state === "'" || state === '"') {
        if (char === state) state = "word";
        else if (state === '"' && char === "\\") {
          escapedFrom = '"';
          state = "escape";
        } else token += char;
      } else if (state === "escape") {
        if (escapedFrom === '"' && char !== "\\" && char !== '"') token += "\\";
        token += char;
        state = escapedFrom;
      } else if (isSpace(char)) {
        index++;
        break;
      } else if (char === "'" || char === '"') {
        state = char;
      } else if (char === "\\") {
        escapedFrom = "word";
        state = "escape";
      } else {
        token += char;
      }
    }
    // go-shlex's messages, which the lobby answers with; invalid_argument like every bad input here.
    if (state === "'" || state === '"') throw invalidArgument("No closing quotation");
    if (state === "escape") throw invalidArgument("No escaped character");
    if (token !== "") words.push(token);
  }
  return words;
}

/** Words after the command, sorted the way the lobby's flag mover sees them. */
export interface LobbyArgs {
  /** Words that are not flags, in order (everything after `--` included). */
  positionals: string[];
  /** Each flag's values in order; a flag without a value has `"true"`. */
  flags: Map<string, string[]>;
}

/**
 * The lobby's flag handling: a dash word carries `name=value`, or, without `=`, swallows the
 * next word when that word does not start with `-` (the documented trap); `--` ends flags.
 */
export function parseLobbyArgs(words: readonly string[]): LobbyArgs {
  if (!Array.isArray(words) || words.some((word) => typeof word !== "string")) {
    throw invalidArgument("parseLobbyArgs needs an array of strings.");
  }
  const positionals: string[] = [];
  const flags = new Map<string, string[]>();
  const add = (name: string, value: string) => flags.set(name, [...(flags.get(name) ?? []), value]);
  for (let index = 0; index < words.length; index++) {
    const word = words[index] as string;
    if (word === "--") {
      positionals.push(...words.slice(index + 1));
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      positionals.push(word);
      continue;
    }
    const bare = word.replace(/^--?/, "");
    const equals = bare.indexOf("=");
    if (equals !== -1) add(bare.slice(0, equals), bare.slice(equals + 1));
    else if (index + 1 < words.length && !(words[index + 1] as string).startsWith("-"))
      add(bare, words[++index] as string);
    else add(bare, "true");
  }
  return { positionals, flags };
}
