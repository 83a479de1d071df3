import { describe, expect, it } from "vitest";
import { escapeGlob, expandBraces, MAX_BRACE_ALTERNATIVES } from "./glob-pattern.js";

describe("expandBraces and escapeGlob", () => {
  it("expands nested and repeated groups, and leaves lone braces alone", () => {
    expect(expandBraces("*.{ts,tsx}")).toEqual(["*.ts", "*.tsx"]);
    expect(expandBraces("{a,b}{1,2}")).toEqual(["a1", "a2", "b1", "b2"]);
    expect(expandBraces("x{a,{b,c}}")).toEqual(["xa", "xb", "xc"]);
    expect(expandBraces("{a}")).toEqual(["{a}"]);
    expect(expandBraces("a{b,c")).toEqual(["a{b,c"]);
  });

  it("gives up (undefined) rather than expand past the limit", () => {
    expect(expandBraces("{a,b}".repeat(8))).toHaveLength(MAX_BRACE_ALTERNATIVES);
    expect(expandBraces("{a,b}".repeat(9))).toBeUndefined();
    // 16 groups would be 65536 alternatives; nothing that large is ever built.
    expect(expandBraces("{a,b}".repeat(16))).toBeUndefined();
    expect(expandBraces("x{a,b,c}", 2)).toBeUndefined();
    // Thousands of groups: given up on before they could overflow the stack.
    expect(expandBraces("{a,b}".repeat(20_000))).toBeUndefined();
  });

  it("escapes glob characters in a literal directory", () => {
    expect(escapeGlob("/home/u/[dir]*?")).toBe("/home/u/\\[dir\\]\\*\\?");
  });
});
