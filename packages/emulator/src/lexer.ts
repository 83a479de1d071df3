// The emulator's own reading of a `/exec` body. The testing kit has a splitter too
// (`splitLobbyWords`), for test servers; this one is written separately on purpose, so that
// tests of core's quoting against the emulator check two independent implementations rather
// than one against itself.

/** A command line that cannot be split into words (unbalanced quotes, a dangling backslash). */
export class CommandSyntaxError extends Error {
  override readonly name = "CommandSyntaxError";
}

// Go's unicode.IsSpace, which the lobby's lexer (go-shlex) uses: it differs from JavaScript's
// \s (U+0085 is a space, U+FEFF is not).
const SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;

type State = "between" | "word" | "single" | "double";

/**
 * Splits a lobby command line into words as exe.dev does (github.com/anmitsu/go-shlex, posix
 * mode): whitespace separates words; single quotes keep everything literally; inside double
 * quotes a backslash escapes only `"` and `\` (before anything else it stays as written);
 * outside quotes a backslash makes the next character literal. Nothing is expanded (`$`, `*`,
 * `~` and `#` are plain characters) and empty words such as `''` are dropped.
 *
 * @throws CommandSyntaxError for an unclosed quote or a backslash at the very end.
 * @example
 * splitCommandLine(`new --name=a-vm --comment='it''s "fine"'`); // ["new", "--name=a-vm", `--comment=its "fine"`]
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  const chars = [...line];
  let state: State = "between";
  let word = "";
  for (let index = 0; index < chars.length; index++) {
    const char = chars[index] as string;
    switch (state) {
      case "between":
      case "word":
        if (SPACE.test(char)) {
          if (word !== "") words.push(word);
          word = "";
          state = "between";
        } else if (char === "'") {
          state = "single";
        } else if (char === '"') {
          state = "double";
        } else if (char === "\\") {
          const next = chars[++index];
          if (next === undefined) throw new CommandSyntaxError("No escaped character");
          word += next;
          state = "word";
        } else {
          word += char;
          state = "word";
        }
        break;
      case "single":
        if (char === "'") state = "word";
        else word += char;
        break;
      case "double":
        if (char === '"') {
          state = "word";
        } else if (char === "\\") {
          const next = chars[++index];
          if (next === undefined) throw new CommandSyntaxError("No escaped character");
          word += next === '"' || next === "\\" ? next : `\\${next}`;
        } else {
          word += char;
        }
        break;
    }
  }
  if (state === "single" || state === "double") throw new CommandSyntaxError("No closing quotation");
  if (word !== "") words.push(word);
  return words;
}
