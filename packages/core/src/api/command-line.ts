import { invalidArgument } from "../errors.js";

/** Largest request body exe.dev accepts on `/exec` (it answers 413 above this). */
export const MAX_BODY_BYTES = 65_536;
/** Largest `--setup-script` exe.dev stores, measured after its escape processing. */
export const MAX_SETUP_SCRIPT_BYTES = 10_240;

/** One value of a lobby flag; an array repeats the flag once per element. */
export type LobbyFlagValue = string | number | boolean | readonly (string | number)[];

/** Flags by name (without dashes), sent after the positionals as `--name=value`. */
export type LobbyFlags = Readonly<Record<string, LobbyFlagValue | undefined>>;

const FLAG_NAME = /^[a-z][a-z0-9-]*$/;
// The server expands C-style escapes in this flag's value, which lets a script carry newlines.
const SETUP_SCRIPT_FLAG = "setup-script";

/**
 * Quotes one word for the lobby's POSIX lexer (go-shlex, posix mode): inside single quotes
 * nothing is special, and a single quote is written as `'\''`.
 */
export function quoteLobbyWord(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Encodes a setup script for `--setup-script=`: the lobby turns `\n` back into a newline and `\\`
 * into a backslash, so a multi-line script fits on one command line.
 */
export function encodeSetupScript(script: string): string {
  return script.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

const LONE_SURROGATE = /\p{Cs}/u;

/** Checks one word before it is quoted; `label` names it in errors, never its value. */
function checkWord(word: string, label: string, allowNewlines: boolean): void {
  if (word.includes("\0")) {
    throw invalidArgument(`${label} must not contain NUL bytes.`);
  }
  if (!allowNewlines && /[\r\n]/.test(word)) {
    throw invalidArgument(`${label} must not contain line breaks (CR or LF).`);
  }
  if (allowNewlines && word.includes("\r")) {
    throw invalidArgument(`${label} must use LF line endings, without CR.`);
  }
  if (LONE_SURROGATE.test(word)) {
    throw invalidArgument(`${label} contains an unpaired UTF-16 surrogate.`);
  }
}

function flagWords(name: string, value: LobbyFlagValue | undefined): string[] {
  if (value === undefined) return [];
  if (!FLAG_NAME.test(name)) {
    throw invalidArgument(
      `flag name ${JSON.stringify(name.slice(0, 64))} must be lowercase words joined by "-".`,
    );
  }
  const values = Array.isArray(value) ? value : [value as string | number | boolean];
  return values.map((item) => {
    if (typeof item === "number") {
      if (!Number.isFinite(item)) throw invalidArgument(`--${name} must be a finite number.`);
      return `--${name}=${item}`;
    }
    if (typeof item === "boolean") return `--${name}=${item}`;
    if (typeof item !== "string") throw invalidArgument(`--${name} must be a string, number or boolean.`);
    const isScript = name === SETUP_SCRIPT_FLAG;
    checkWord(item, `--${name} value`, isScript);
    if (isScript && Buffer.byteLength(item) > MAX_SETUP_SCRIPT_BYTES) {
      throw invalidArgument(
        `--${name} is larger than ${MAX_SETUP_SCRIPT_BYTES} bytes (10 KiB), exe.dev's limit.`,
        {
          bytes: Buffer.byteLength(item),
          limitBytes: MAX_SETUP_SCRIPT_BYTES,
        },
      );
    }
    return `--${name}=${isScript ? encodeSetupScript(item) : item}`;
  });
}

/**
 * Builds the body of a `POST /exec`: the words in order, then every flag as `--name=value`
 * (booleans as `--name=true`), each quoted for the lobby's lexer.
 *
 * Flags always carry `=` because the lobby's flag mover lets a bare `--flag` swallow the next
 * word; and they come after the positionals, or before a `--` in `words` when there is one.
 * Checks happen here, before any I/O: no empty words, NUL bytes, CR/LF (setup scripts excepted,
 * which travel escaped), oversized setup scripts or bodies over 64 KiB.
 *
 * @throws SandboxError `invalid_argument` naming the offending argument, never its value.
 */
export function buildCommandLine(words: readonly string[], flags: LobbyFlags = {}): string {
  if (!Array.isArray(words) || words.length === 0) {
    throw invalidArgument('the command must have at least one word, e.g. ["ls"].');
  }
  words.forEach((word, index) => {
    if (typeof word !== "string") throw invalidArgument(`argument ${index + 1} must be a string.`);
    // go-shlex drops empty words, so an empty argument would silently shift the ones after it.
    if (word.length === 0) throw invalidArgument(`argument ${index + 1} must not be empty.`);
    checkWord(word, `argument ${index + 1}`, false);
  });
  const flagList = Object.entries(flags).flatMap(([name, value]) => flagWords(name, value));
  const separator = words.indexOf("--");
  const ordered =
    separator === -1
      ? [...words, ...flagList]
      : [...words.slice(0, separator), ...flagList, ...words.slice(separator)];
  const body = ordered.map(quoteLobbyWord).join(" ");
  const bytes = Buffer.byteLength(body);
  if (bytes > MAX_BODY_BYTES) {
    throw invalidArgument(
      `the command line is ${bytes} bytes; exe.dev accepts at most ${MAX_BODY_BYTES} (64 KiB).`,
      {
        bytes,
        limitBytes: MAX_BODY_BYTES,
      },
    );
  }
  return body;
}
