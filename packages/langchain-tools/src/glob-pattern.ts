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

/**
 * Expands brace groups, as shells and deepagents' in-memory backends (micromatch) do:
 * `*.{ts,tsx}` gives `*.ts` and `*.tsx`. A group without a comma, or unclosed, stays literal.
 */
export function expandBraces(pattern: string): string[] {
  for (let open = pattern.indexOf("{"); open !== -1; open = pattern.indexOf("{", open + 1)) {
    const close = closingBrace(pattern, open);
    if (close === -1) break;
    const options = alternatives(pattern.slice(open + 1, close));
    if (options.length < 2) continue;
    const head = pattern.slice(0, open);
    const tails = expandBraces(pattern.slice(close + 1));
    return options.flatMap((option) =>
      expandBraces(head + option).flatMap((left) => tails.map((tail) => left + tail)),
    );
  }
  return [pattern];
}

/** Translates one brace-free glob to a regular-expression source. */
function translate(pattern: string): string {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === "*" && pattern[i + 1] === "*") {
      const slash = pattern[i + 2] === "/";
      source += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (char === "*") {
      source += "[^/]*";
    } else if (char === "?") {
      source += "[^/]";
    } else if (char === "[" && pattern.indexOf("]", i + 2) !== -1) {
      const end = pattern.indexOf("]", i + 2);
      let body = pattern.slice(i + 1, end);
      if (body.startsWith("!")) body = `^${body.slice(1)}`;
      source += `[${body.replaceAll("\\", "\\\\")}]`;
      i = end;
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
  }
  return source;
}

/**
 * A regular expression matching whole paths (relative, `/`-separated) against a glob the way
 * deepagents' sandboxes do: `**` spans directories (`**` followed by `/` also matches none), `*`
 * and `?` stay within one, `[...]` is a class (`[!...]` negated), and `{a,b}` alternatives
 * are expanded. Dot files match like any other name.
 */
export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^(?:${expandBraces(pattern).map(translate).join("|")})$`);
}

/** Escapes glob metacharacters, so a literal directory can prefix a pattern for `find -path`. */
export function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, "\\$&");
}
