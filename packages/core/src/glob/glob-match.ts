import { buildAutomaton } from "./glob-automaton.js";
import { foldAscii, parseGlob } from "./glob-syntax.js";

/** How {@link compileGlob} reads a pattern. */
export interface GlobOptions {
  /**
   * `/` separates path segments: `*`, `?` and classes never match it, `**` matches across
   * segments, and `**` followed by `/` also matches no segment at all.
   * @default true
   */
  pathSeparator?: boolean;
  /** `[...]` is a character class (`[!...]` or `[^...]` negated); when false `[` and `]` are literal. @default true */
  classes?: boolean;
  /** `{a,b}` matches either alternative (nested groups too); a group without a comma is literal. @default true */
  braces?: boolean;
  /** Letters match regardless of case. @default false */
  ignoreCase?: boolean;
}

/** A compiled glob. */
export interface GlobMatcher {
  /** Whether the whole of `text` matches, in time linear in its length (never backtracking). */
  test(text: string): boolean;
}

/** Bound on the code points of cached subset states, so a hostile pattern cannot grow memory. */
const MAX_CACHED_STATES = 1 << 20;

interface SubsetState {
  states: Int32Array;
  accepting: boolean;
  next: Map<number, SubsetState>;
}

/**
 * Compiles a glob into a matcher that runs a lazily built deterministic automaton: time is
 * linear in the text whatever the pattern (`**\/*a*a*a*a*a*b` included), and brace groups are
 * never expanded into alternatives. Backslash is a literal character, as in deepagents'
 * sandboxes. Throws `SandboxError` `invalid_argument` for a malformed class such as `[z-a]`.
 */
export function compileGlob(pattern: string, options: GlobOptions = {}): GlobMatcher {
  const syntax = {
    pathSeparator: options.pathSeparator ?? true,
    classes: options.classes ?? true,
    braces: options.braces ?? true,
    ignoreCase: options.ignoreCase ?? false,
  };
  const automaton = buildAutomaton(parseGlob(pattern, syntax));
  const { tests, out, out2, accept } = automaton;
  const seen = new Int32Array(tests.length).fill(-1);
  let generation = 0;

  /** The states reachable from `roots` without consuming, sorted; the subset's identity. */
  const closure = (roots: number[]): Int32Array => {
    generation++;
    const found: number[] = [];
    const stack = [...roots];
    while (stack.length > 0) {
      const state = stack.pop()!;
      if (seen[state] === generation) continue;
      seen[state] = generation;
      if (tests[state] === undefined && state !== accept) {
        stack.push(out[state]!);
        if (out2[state]! >= 0) stack.push(out2[state]!);
      } else found.push(state);
    }
    return Int32Array.from(found).sort();
  };

  let cache = new Map<string, SubsetState>();
  let cachedStates = 0;
  const intern = (states: Int32Array): SubsetState => {
    const key = states.join(",");
    let subset = cache.get(key);
    if (!subset) {
      if (cachedStates + states.length > MAX_CACHED_STATES) {
        // Start over, unlinking the old subsets so none stays reachable through another.
        for (const old of cache.values()) old.next.clear();
        cache = new Map();
        cachedStates = 0;
      }
      subset = { states, accepting: states.includes(accept), next: new Map() };
      cache.set(key, subset);
      cachedStates += states.length;
    }
    return subset;
  };
  const startStates = closure([automaton.start]);
  const step = (from: SubsetState, codePoint: number): SubsetState => {
    const known = from.next.get(codePoint);
    if (known) return known;
    const roots: number[] = [];
    for (const state of from.states) if (tests[state]?.(codePoint)) roots.push(out[state]!);
    const target = intern(closure(roots));
    from.next.set(codePoint, target);
    return target;
  };

  return {
    test(text: string): boolean {
      let current = intern(startStates);
      for (const char of text) {
        const codePoint = char.codePointAt(0)!;
        current = step(current, syntax.ignoreCase ? foldAscii(codePoint) : codePoint);
        if (current.states.length === 0) return false;
      }
      return current.accepting;
    },
  };
}
