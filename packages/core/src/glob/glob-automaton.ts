import type { CharTest, GlobNode } from "./glob-syntax.js";

/**
 * A Thompson automaton: each state either tests one character (`test`, then `out`), splits
 * without consuming (`out` and `out2`), or accepts (neither). Its size is linear in the
 * pattern's; braces are never expanded.
 */
export interface Automaton {
  tests: (CharTest | undefined)[];
  out: number[];
  out2: number[];
  start: number;
  accept: number;
}

/** Builds the automaton; each node is compiled given the state that follows it. */
export function buildAutomaton(nodes: GlobNode[]): Automaton {
  const automaton: Automaton = { tests: [], out: [], out2: [], start: 0, accept: 0 };
  const add = (test: CharTest | undefined, out: number, out2 = -1): number => {
    automaton.tests.push(test);
    automaton.out.push(out);
    automaton.out2.push(out2);
    return automaton.tests.length - 1;
  };
  const any: CharTest = () => true;
  const sequence = (items: GlobNode[], next: number): number => {
    let state = next;
    for (let index = items.length - 1; index >= 0; index--) state = node(items[index]!, state);
    return state;
  };
  const node = (item: GlobNode, next: number): number => {
    switch (item.kind) {
      case "char":
        return add(item.test, next);
      case "star": {
        // split(loop, next), loop: test -> split
        const split = add(undefined, -1, next);
        automaton.out[split] = add(item.test, split);
        return split;
      }
      case "globstar-slash": {
        // (.*/)?  as  split(inner, next); inner: split(any -> inner, "/" -> next)
        const inner = add(
          undefined,
          -1,
          add((codePoint) => codePoint === 0x2f, next),
        );
        automaton.out[inner] = add(any, inner);
        return add(undefined, inner, next);
      }
      case "alt": {
        const starts = item.options.map((option) => sequence(option, next));
        let state = starts.at(-1)!;
        for (let index = starts.length - 2; index >= 0; index--)
          state = add(undefined, starts[index]!, state);
        return state;
      }
    }
  };
  automaton.accept = add(undefined, -1);
  automaton.start = sequence(nodes, automaton.accept);
  return automaton;
}
