import { describe, expect, it } from "vitest";
import { lsMatcher } from "./ls-pattern.js";

const matches = (pattern: string, text: string): boolean => lsMatcher(pattern)(text);

describe("ls patterns", () => {
  it("matches shell globs against the whole name", () => {
    expect(matches("shape-*", "shape-one")).toBe(true);
    expect(matches("shape-*", "my-shape-one")).toBe(false);
    expect(matches("gr??n", "green")).toBe(true);
    expect(matches("gr??n", "grean!")).toBe(false);
    expect(matches("*", "")).toBe(true);
    expect(matches("?", "")).toBe(false);
    expect(matches("a**b", "ab")).toBe(true);
    expect(matches("*-two", "shape-ls-two")).toBe(true);
    expect(matches("*o*o*o*", "foo")).toBe(false);
    expect(matches("*o*o*", "fooo")).toBe(true);
  });

  it("knows classes, negated classes, ranges and a leading ]", () => {
    expect(matches("vm-[0-9]", "vm-7")).toBe(true);
    expect(matches("vm-[0-9]", "vm-x")).toBe(false);
    expect(matches("shape-[!o]*", "shape-two")).toBe(true);
    expect(matches("shape-[!o]*", "shape-one")).toBe(false);
    expect(matches("[]x]", "]")).toBe(true);
    expect(matches("[a-]", "-")).toBe(true);
    // A reversed range matches nothing (fnmatch), rather than throwing.
    expect(matches("[z-a]", "m")).toBe(false);
    // An unclosed class is literal text.
    expect(matches("[ab", "[ab")).toBe(true);
  });

  it("takes everything else literally, regex metacharacters included", () => {
    expect(matches("a.b", "a.b")).toBe(true);
    expect(matches("a.b", "axb")).toBe(false);
    expect(matches("(a|b)+$", "(a|b)+$")).toBe(true);
    expect(matches("a\\b", "a\\b")).toBe(true);
    expect(matches("ü?", "üx")).toBe(true);
    expect(matches("?", "😀")).toBe(true);
  });

  it("matches a hostile pattern against a long name in bounded time", () => {
    // A regular expression built from this pattern backtracks through every way of placing
    // the eight `a`s (the old code needed seconds for a name of 40 characters).
    const pattern = "*a*a*a*a*a*a*a*a*b";
    const name = "a".repeat(10_000);
    const match = lsMatcher(pattern);
    const started = performance.now();
    expect(match(name)).toBe(false);
    expect(match(`${name}b`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(100);
  });
});
