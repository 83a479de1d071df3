import { invalidArgument } from "../errors.js";

/** What one pattern character may match, given as a code point. */
export type CharTest = (codePoint: number) => boolean;

/** A parsed glob: a sequence of these, where `alt` holds brace alternatives (each a sequence). */
export type GlobNode =
  | { kind: "char"; test: CharTest }
  | { kind: "star"; test: CharTest }
  | { kind: "globstar-slash" }
  | { kind: "alt"; options: GlobNode[][] };

/** How a pattern is read; see `GlobOptions` in glob-match.ts for the meaning of each. */
export interface GlobSyntax {
  pathSeparator: boolean;
  classes: boolean;
  braces: boolean;
  ignoreCase: boolean;
}

const SLASH = 0x2f;
/** ASCII case folding, as OpenSSH's: the same whatever the locale. */
export const foldAscii = (codePoint: number): number =>
  codePoint >= 0x41 && codePoint <= 0x5a ? codePoint + 0x20 : codePoint;
const upperAscii = (codePoint: number): number =>
  codePoint >= 0x61 && codePoint <= 0x7a ? codePoint - 0x20 : codePoint;

const NAMED_CLASSES: Record<string, RegExp> = {
  alnum: /[A-Za-z0-9]/,
  alpha: /[A-Za-z]/,
  blank: /[ \t]/,
  digit: /[0-9]/,
  lower: /[a-z]/,
  punct: /[!-/:-@[-`{-~]/,
  space: /[ \t\n\r\f\v]/,
  upper: /[A-Z]/,
  xdigit: /[0-9A-Fa-f]/,
};

/** Index of the `}` closing the brace group that opens at `open` (before `end`), or -1. */
function closingBrace(chars: string[], open: number, end: number): number {
  let depth = 0;
  for (let i = open; i < end; i++) {
    if (chars[i] === "{") depth++;
    else if (chars[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

/** The top-level comma positions of the group body between `open` and `close`. */
function topLevelCommas(chars: string[], open: number, close: number): number[] {
  const commas: number[] = [];
  let depth = 0;
  for (let i = open + 1; i < close; i++) {
    if (chars[i] === "{") depth++;
    else if (chars[i] === "}") depth--;
    else if (chars[i] === "," && depth === 0) commas.push(i);
  }
  return commas;
}

/**
 * Parses `[...]` starting at `open`: `!` or `^` negates, a leading `]` is a member, `a-z` is a
 * range, `[:alpha:]` a named class. Returns undefined when the class is never closed (the `[`
 * is then literal), and throws `invalid_argument` for a reversed range or an unknown name.
 */
function parseClass(
  chars: string[],
  open: number,
  end: number,
  syntax: GlobSyntax,
): { test: CharTest; close: number } | undefined {
  let i = open + 1;
  const negated = chars[i] === "!" || chars[i] === "^";
  if (negated) i++;
  const members: CharTest[] = [];
  for (let first = true; i < end; first = false) {
    const char = chars[i]!;
    if (char === "]" && !first) {
      const matchesAny = (codePoint: number) => members.some((member) => member(codePoint));
      const inClass = syntax.ignoreCase
        ? (codePoint: number) => matchesAny(codePoint) || matchesAny(upperAscii(codePoint))
        : matchesAny;
      const test: CharTest = (codePoint) =>
        !(syntax.pathSeparator && codePoint === SLASH) && inClass(codePoint) !== negated;
      return { test, close: i };
    }
    if (char === "[" && chars[i + 1] === ":") {
      const stop = chars.indexOf(":", i + 2);
      if (stop !== -1 && stop + 1 < end && chars[stop + 1] === "]") {
        const name = chars.slice(i + 2, stop).join("");
        const named = NAMED_CLASSES[name];
        if (!named) throw invalidArgument(`Unknown character class [:${name}:] in the glob pattern.`);
        members.push((codePoint) => named.test(String.fromCodePoint(codePoint)));
        i = stop + 2;
        continue;
      }
    }
    const low = char.codePointAt(0)!;
    if (chars[i + 1] === "-" && i + 2 < end && chars[i + 2] !== "]") {
      const high = chars[i + 2]!.codePointAt(0)!;
      if (high < low) {
        throw invalidArgument(
          `The glob pattern has a reversed range "${char}-${chars[i + 2]}" in a [...] class; write it low to high.`,
        );
      }
      members.push((codePoint) => codePoint >= low && codePoint <= high);
      i += 3;
    } else {
      members.push((codePoint) => codePoint === low);
      i++;
    }
  }
  return undefined;
}

/** Parses `chars[start, end)` into a node sequence. */
function parseRange(chars: string[], start: number, end: number, syntax: GlobSyntax): GlobNode[] {
  const nodes: GlobNode[] = [];
  const notSlash: CharTest = syntax.pathSeparator ? (codePoint) => codePoint !== SLASH : () => true;
  const anything: CharTest = () => true;
  for (let i = start; i < end; ) {
    const char = chars[i]!;
    if (char === "{" && syntax.braces) {
      const close = closingBrace(chars, i, end);
      const commas = close === -1 ? [] : topLevelCommas(chars, i, close);
      if (commas.length > 0) {
        const bounds = [i, ...commas, close];
        const options = bounds
          .slice(1)
          .map((stop, index) => parseRange(chars, bounds[index]! + 1, stop, syntax));
        nodes.push({ kind: "alt", options });
        i = close + 1;
        continue;
      }
    }
    if (char === "*") {
      if (syntax.pathSeparator && chars[i + 1] === "*" && i + 1 < end) {
        if (chars[i + 2] === "/" && i + 2 < end) {
          nodes.push({ kind: "globstar-slash" });
          i += 3;
        } else {
          nodes.push({ kind: "star", test: anything });
          i += 2;
        }
      } else {
        nodes.push({ kind: "star", test: notSlash });
        i++;
      }
      continue;
    }
    if (char === "?") {
      nodes.push({ kind: "char", test: notSlash });
      i++;
      continue;
    }
    if (char === "[" && syntax.classes) {
      const parsed = parseClass(chars, i, end, syntax);
      if (parsed) {
        nodes.push({ kind: "char", test: parsed.test });
        i = parsed.close + 1;
        continue;
      }
    }
    const literal = syntax.ignoreCase ? foldAscii(char.codePointAt(0)!) : char.codePointAt(0)!;
    nodes.push({ kind: "char", test: (codePoint) => codePoint === literal });
    i++;
  }
  return nodes;
}

/** Parses a glob into nodes; throws `invalid_argument` for a malformed class. */
export function parseGlob(pattern: string, syntax: GlobSyntax): GlobNode[] {
  const chars = Array.from(pattern);
  return parseRange(chars, 0, chars.length, syntax);
}
