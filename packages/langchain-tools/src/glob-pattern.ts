/** Index of the `}` closing the brace group that opens at `open`, or -1. */
function closingBrace(pattern: string, open: number): number {
  let depth = 0;
  for (let i = open; i < pattern.length; i++) {
    if (pattern[i] === "{") depth++;
    else if (pattern[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

/** Splits a brace group's body on its top-level commas. */
function alternatives(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === "{") depth++;
    else if (body[i] === "}") depth--;
    else if (body[i] === "," && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}

/** Deepest recursion of {@link expandBraces}: one level per brace group it expands. */
const MAX_EXPANSION_DEPTH = 100;

/** Most alternatives {@link expandBraces} produces; `{a,b}` repeated 9 times is already 512. */
export const MAX_BRACE_ALTERNATIVES: number = 256;

/**
 * Expands brace groups, as shells and deepagents' in-memory backends (micromatch) do:
 * `*.{ts,tsx}` gives `*.ts` and `*.tsx`. A group without a comma, or unclosed, stays literal.
 * Undefined when there would be more than `limit` alternatives: the count grows exponentially
 * with the groups, and the alternatives end up as arguments of one command line. Matching
 * itself never expands braces (core's `compileGlob` reads them as they are).
 * @param limit - most alternatives returned. @default MAX_BRACE_ALTERNATIVES (256)
 */
export function expandBraces(pattern: string, limit: number = MAX_BRACE_ALTERNATIVES): string[] | undefined {
  const expand = (text: string, depth: number): string[] | undefined => {
    // Each level is a group of two or more alternatives, so this deep means far more than
    // `limit` of them; giving up here keeps a pattern of thousands of groups off the stack.
    if (depth > MAX_EXPANSION_DEPTH) return undefined;
    for (let open = text.indexOf("{"); open !== -1; open = text.indexOf("{", open + 1)) {
      const close = closingBrace(text, open);
      if (close === -1) break;
      const options = alternatives(text.slice(open + 1, close));
      if (options.length < 2) continue;
      const head = text.slice(0, open);
      const tails = expand(text.slice(close + 1), depth + 1);
      if (!tails) return undefined;
      const out: string[] = [];
      for (const option of options) {
        const lefts = expand(head + option, depth + 1);
        if (!lefts || out.length + lefts.length * tails.length > limit) return undefined;
        for (const left of lefts) for (const tail of tails) out.push(left + tail);
      }
      return out;
    }
    return [text];
  };
  return expand(pattern, 0);
}

/** Escapes glob metacharacters, so a literal directory can prefix a pattern for `find -path`. */
export function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, "\\$&");
}
