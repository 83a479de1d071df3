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

/**
 * Most brace groups with alternatives nested in one another. Each level is parsed (and compiled)
 * recursively, so an unbounded depth would overflow the stack instead of failing cleanly.
 */
export const MAX_BRACE_DEPTH = 32;

/** Where each brace group closes and where its top-level commas are, found in one pass. */
interface BraceIndex {
  /** For each `{` that is closed, the index of its `}`; -1 elsewhere. */
  closeOf: Int32Array;
  /** For each closed `{`, the indexes of its top-level commas. */
  commasOf: Map<number, number[]>;
}

// One pass with a stack, so that scanning for each group's end (and commas) is not repeated for
// every `{`: a pattern of many unclosed or nested braces would otherwise take quadratic time.
function indexBraces(chars: string[]): BraceIndex {
  const closeOf = new Int32Array(chars.length).fill(-1);
  const commasOf = new Map<number, number[]>();
  const open: { at: number; commas: number[] }[] = [];
  chars.forEach((char, i) => {
    if (char === "{") open.push({ at: i, commas: [] });
    else if (char === "," && open.length > 0) open.at(-1)!.commas.push(i);
    else if (char === "}" && open.length > 0) {
      const group = open.pop()!;
      closeOf[group.at] = i;
      commasOf.set(group.at, group.commas);
    }
  });
  return { closeOf, commasOf };
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

/** Parses `chars[start, end)` into a node sequence, `depth` brace groups deep. */
function parseRange(
  chars: string[],
  start: number,
  end: number,
  syntax: GlobSyntax,
  braces: BraceIndex,
  depth: number,
): GlobNode[] {
  const nodes: GlobNode[] = [];
  const notSlash: CharTest = syntax.pathSeparator ? (codePoint) => codePoint !== SLASH : () => true;
  const anything: CharTest = () => true;
  for (let i = start; i < end; ) {
    const char = chars[i]!;
    if (char === "{" && syntax.braces) {
      const close = braces.closeOf[i]!;
      const commas = close === -1 || close >= end ? [] : (braces.commasOf.get(i) ?? []);
      if (commas.length > 0) {
        if (depth >= MAX_BRACE_DEPTH) {
          throw invalidArgument(
            `The glob pattern nests {a,b} groups more than ${MAX_BRACE_DEPTH} deep; flatten the alternatives.`,
          );
        }
        const bounds = [i, ...commas, close];
        const options = bounds
          .slice(1)
          .map((stop, index) => parseRange(chars, bounds[index]! + 1, stop, syntax, braces, depth + 1));
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

/**
 * Parses a glob into nodes; throws `invalid_argument` for a malformed class or brace groups
 * nested deeper than {@link MAX_BRACE_DEPTH}.
 */
export function parseGlob(pattern: string, syntax: GlobSyntax): GlobNode[] {
  const chars = Array.from(pattern);
  const braces = syntax.braces ? indexBraces(chars) : { closeOf: new Int32Array(0), commasOf: new Map() };
  return parseRange(chars, 0, chars.length, syntax, braces, 0);
}
