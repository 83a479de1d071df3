// A shell-style glob matcher that never builds a regular expression from user input: a
// pattern such as `*a*a*a*a*b` made the old regex backtrack exponentially. This one walks the
// name once per star restart, so the work is bounded by (name length × pattern length).

type Token =
  | { kind: "star" }
  | { kind: "any" }
  | { kind: "char"; char: string }
  | { kind: "class"; negated: boolean; ranges: ReadonlyArray<readonly [string, string]> };

/** Parses `[...]` starting at `open` (the `[`); undefined when it has no closing `]`. */
function parseClass(chars: readonly string[], open: number): { token: Token; end: number } | undefined {
  let index = open + 1;
  const negated = chars[index] === "!";
  if (negated) index++;
  const start = index;
  const ranges: Array<readonly [string, string]> = [];
  // A `]` right after `[` (or `[!`) is a member, as in the shell.
  for (; index < chars.length; index++) {
    const char = chars[index] as string;
    if (char === "]" && index > start) return { token: { kind: "class", negated, ranges }, end: index };
    const next = chars[index + 2];
    if (chars[index + 1] === "-" && next !== undefined && next !== "]") {
      ranges.push([char, next]);
      index += 2;
    } else ranges.push([char, char]);
  }
  return undefined;
}

function tokenize(pattern: string): Token[] {
  const chars = Array.from(pattern);
  const tokens: Token[] = [];
  for (let index = 0; index < chars.length; index++) {
    const char = chars[index] as string;
    if (char === "*") {
      // Runs of stars mean one star.
      if (tokens.at(-1)?.kind !== "star") tokens.push({ kind: "star" });
    } else if (char === "?") tokens.push({ kind: "any" });
    else if (char === "[") {
      const parsed = parseClass(chars, index);
      if (parsed) {
        tokens.push(parsed.token);
        index = parsed.end;
      } else tokens.push({ kind: "char", char });
    } else tokens.push({ kind: "char", char });
  }
  return tokens;
}

function matchesOne(token: Token, char: string): boolean {
  switch (token.kind) {
    case "any":
      return true;
    case "char":
      return token.char === char;
    case "class": {
      // Compared by code point; a reversed range (`[z-a]`) matches nothing, as in fnmatch.
      const point = char.codePointAt(0) as number;
      const inside = token.ranges.some(
        ([low, high]) => point >= (low.codePointAt(0) as number) && point <= (high.codePointAt(0) as number),
      );
      return inside !== token.negated;
    }
    default:
      return false;
  }
}

/**
 * Compiles a shell-style glob (`*`, `?`, `[a-z]`, `[!a-z]`; anything else literal) into a
 * whole-string matcher. Matching takes at most (name length × pattern length) steps.
 */
export function compileGlob(pattern: string): (text: string) => boolean {
  const tokens = tokenize(pattern);
  return (text) => {
    const chars = Array.from(text);
    let token = 0;
    let char = 0;
    // Where the last star was and which character it would swallow next when we retry.
    let star = -1;
    let resume = 0;
    while (char < chars.length) {
      const current = tokens[token];
      if (current?.kind === "star") {
        star = token++;
        resume = char;
      } else if (current !== undefined && matchesOne(current, chars[char] as string)) {
        token++;
        char++;
      } else if (star >= 0) {
        // Only the last star needs retrying: earlier ones can never do better (the classic
        // wildcard argument), which is what keeps this polynomial.
        token = star + 1;
        char = ++resume;
      } else return false;
    }
    while (tokens[token]?.kind === "star") token++;
    return token === tokens.length;
  };
}
