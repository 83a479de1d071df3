import { compileGlob } from "@exedev-sandbox/core";
import { describe, expect, it } from "vitest";
import { escapeGlob, expandBraces, MAX_BRACE_ALTERNATIVES } from "./glob-pattern.js";

// The cases the regex-based matcher had; core's linear-time matcher gives the same answers.
describe("glob matching as deepagents' sandboxes do", () => {
  const matches = (pattern: string, path: string): boolean => compileGlob(pattern).test(path);

  it("keeps * and ? within a segment and lets ** span segments, or none before a slash", () => {
    expect(matches("*.ts", "a.ts")).toBe(true);
    expect(matches("*.ts", "src/a.ts")).toBe(false);
    expect(matches("**/*.ts", "a.ts")).toBe(true);
    expect(matches("**/*.ts", "src/deep/a.ts")).toBe(true);
    expect(matches("src/**", "src/deep/a.ts")).toBe(true);
    expect(matches("a?c", "abc")).toBe(true);
    expect(matches("a?c", "a/c")).toBe(false);
    expect(matches("*", ".hidden")).toBe(true);
  });

  it("treats regular-expression characters literally", () => {
    expect(matches("a.b+(c)$", "a.b+(c)$")).toBe(true);
    expect(matches("a.b", "axb")).toBe(false);
    expect(matches('it\'s "x".txt', 'it\'s "x".txt')).toBe(true);
  });

  it("supports classes, negated with ! or ^, and brace alternatives", () => {
    expect(matches("[ab].txt", "b.txt")).toBe(true);
    expect(matches("[!ab].txt", "b.txt")).toBe(false);
    expect(matches("[!ab].txt", "c.txt")).toBe(true);
    expect(matches("[^ab].txt", "c.txt")).toBe(true);
    expect(matches("*.{ts,tsx}", "a.tsx")).toBe(true);
    expect(matches("*.{ts,tsx}", "a.js")).toBe(false);
    expect(matches("{src,lib}/**/*.{ts,js}", "lib/x/y.js")).toBe(true);
    expect(matches("[unclosed", "[unclosed")).toBe(true);
    expect(matches("{single}", "{single}")).toBe(true);
  });
});

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
  });

  it("escapes glob characters in a literal directory", () => {
    expect(escapeGlob("/home/u/[dir]*?")).toBe("/home/u/\\[dir\\]\\*\\?");
  });
});
