import { describe, expect, it } from "vitest";
import { isSandboxError } from "../errors.js";
import { compileGlob, type GlobOptions } from "./glob-match.js";
import { MAX_BRACE_DEPTH } from "./glob-syntax.js";

const matches = (pattern: string, text: string, options?: GlobOptions): boolean =>
  compileGlob(pattern, options).test(text);

describe("compileGlob", () => {
  it("keeps * and ? within a segment and lets ** span segments, or none before a slash", () => {
    expect(matches("*.ts", "a.ts")).toBe(true);
    expect(matches("*.ts", "src/a.ts")).toBe(false);
    expect(matches("**/*.ts", "a.ts")).toBe(true);
    expect(matches("**/*.ts", "src/deep/a.ts")).toBe(true);
    expect(matches("src/**", "src/deep/a.ts")).toBe(true);
    expect(matches("src/**/x", "src/x")).toBe(true);
    expect(matches("src/**/x", "srcx")).toBe(false);
    expect(matches("a**b", "a/x/b")).toBe(true);
    expect(matches("a?c", "abc")).toBe(true);
    expect(matches("a?c", "a/c")).toBe(false);
    expect(matches("*", ".hidden")).toBe(true);
    expect(matches("*", "")).toBe(true);
    expect(matches("", "")).toBe(true);
    expect(matches("", "a")).toBe(false);
  });

  it("treats regular-expression characters and backslashes literally", () => {
    expect(matches("a.b+(c)$", "a.b+(c)$")).toBe(true);
    expect(matches("a.b", "axb")).toBe(false);
    expect(matches("a\\*", "a\\xyz")).toBe(true);
    expect(matches("a\\*", "a*")).toBe(false);
    expect(matches("^x|y", "^x|y")).toBe(true);
    expect(matches('it\'s "x".txt', 'it\'s "x".txt')).toBe(true);
  });

  it("supports classes, ranges, named classes and brace alternatives", () => {
    expect(matches("[ab].txt", "b.txt")).toBe(true);
    expect(matches("[!ab].txt", "b.txt")).toBe(false);
    expect(matches("[!ab].txt", "c.txt")).toBe(true);
    expect(matches("[^ab].txt", "c.txt")).toBe(true);
    expect(matches("[a-c]x", "bx")).toBe(true);
    expect(matches("[a-c]x", "dx")).toBe(false);
    expect(matches("[]a]", "]")).toBe(true);
    expect(matches("[a-]", "-")).toBe(true);
    expect(matches("[[:digit:]]*", "7up")).toBe(true);
    expect(matches("[!/]", "/")).toBe(false);
    expect(matches("*.{ts,tsx}", "a.tsx")).toBe(true);
    expect(matches("*.{ts,tsx}", "a.js")).toBe(false);
    expect(matches("{src,lib}/**/*.{ts,js}", "lib/x/y.js")).toBe(true);
    expect(matches("x{a,{b,c}}", "xc")).toBe(true);
    expect(matches("{a{b,c}}", "{ab}")).toBe(true);
    expect(matches("a{,b}", "a")).toBe(true);
    expect(matches("[unclosed", "[unclosed")).toBe(true);
    expect(matches("{single}", "{single}")).toBe(true);
    expect(matches("a{b,c", "a{b,c")).toBe(true);
  });

  it("rejects a reversed range or an unknown class name as invalid_argument", () => {
    for (const pattern of ["[z-a]", "**/[9-0].txt", "[[:nope:]]"]) {
      let thrown: unknown;
      try {
        compileGlob(pattern);
      } catch (error) {
        thrown = error;
      }
      expect(isSandboxError(thrown, "invalid_argument"), String(thrown)).toBe(true);
    }
  });

  it("reads OpenSSH host patterns: no separator, no classes, no braces, any case", () => {
    const host = { pathSeparator: false, classes: false, braces: false, ignoreCase: true } as const;
    expect(matches("*.Example.com", "a.b.example.COM", host)).toBe(true);
    expect(matches("[host]:22", "[HOST]:22", host)).toBe(true);
    expect(matches("10.0.0.?", "10.0.0.7", host)).toBe(true);
    expect(matches("{a,b}", "a", host)).toBe(false);
    expect(matches("*", "a/b", host)).toBe(true);
  });

  it("counts a character outside the BMP as one", () => {
    expect(matches("?", "😀")).toBe(true);
    expect(matches("a?b", "a😀b")).toBe(true);
  });

  it("matches hostile patterns in linear time (a backtracking regex takes seconds here)", () => {
    const hostile = [
      ["**/*a*a*a*a*a*a*a*a*a*b", `src/${"a".repeat(32)}`],
      ["**/*a*a*a*a*a*a*a*a*a*b", `${"a/".repeat(2000)}${"a".repeat(4000)}`],
      [
        "{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}{a,a}*b",
        "a".repeat(5000),
      ],
      ["**/**/**/**/**/**/**/**/**/**/x", `${"d/".repeat(3000)}y`],
    ] as const;
    for (const [pattern, text] of hostile) {
      const started = performance.now();
      expect(compileGlob(pattern).test(text)).toBe(false);
      // Generous: the work is a few milliseconds; the bound only has to tell it from seconds.
      expect(performance.now() - started).toBeLessThan(200);
    }
    expect(matches("**/*a*a*a*a*a*a*a*a*a*b", `src/${"a".repeat(32)}b`)).toBe(true);
  });

  it("rejects {a,b} groups nested past MAX_BRACE_DEPTH as invalid_argument, not a stack overflow", () => {
    const nested = (depth: number) => `${"{a,".repeat(depth)}b${"}".repeat(depth)}`;
    expect(matches(nested(MAX_BRACE_DEPTH), "b")).toBe(true);
    expect(matches(nested(MAX_BRACE_DEPTH), "a")).toBe(true);
    for (const depth of [MAX_BRACE_DEPTH + 1, 20_000]) {
      let thrown: unknown;
      try {
        compileGlob(nested(depth));
      } catch (error) {
        thrown = error;
      }
      expect(isSandboxError(thrown, "invalid_argument"), String(thrown)).toBe(true);
    }
    // Without alternatives a group is literal, however deep: nothing recurses.
    expect(matches(`${"{".repeat(40)}x${"}".repeat(40)}`, `${"{".repeat(40)}x${"}".repeat(40)}`)).toBe(true);
  });

  it("parses many unclosed braces in linear time (each `{` used to rescan the rest)", () => {
    const started = performance.now();
    expect(matches(`${"{".repeat(40_000)}x`, "x")).toBe(false);
    // Generous: this takes ~0.1 s; the old quadratic scan took ~4 s on the same machine.
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it("gives the same answers as a regular expression for ordinary patterns", () => {
    // A reference built from the same rules, for patterns whose regex cannot blow up.
    const reference = (pattern: string): RegExp => {
      let source = "";
      for (let i = 0; i < pattern.length; i++) {
        const char = pattern[i]!;
        if (char === "*" && pattern[i + 1] === "*") {
          source += pattern[i + 2] === "/" ? "(?:.*/)?" : ".*";
          i += pattern[i + 2] === "/" ? 2 : 1;
        } else if (char === "*") source += "[^/]*";
        else if (char === "?") source += "[^/]";
        else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
      }
      return new RegExp(`^${source}$`, "u");
    };
    const alphabet = ["a", "b", "/", "*", "**", "**/", "?", "."];
    const texts = ["", "a", "b", "ab", "a/b", "a/b/a", "/a", "a/", "ba.b", "a//b", "aa/bb/ab", ".a/b.b"];
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 400; round++) {
      const pattern = Array.from(
        { length: 1 + Math.floor(random() * 5) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join("");
      const expected = reference(pattern);
      const matcher = compileGlob(pattern);
      for (const text of texts) expect(matcher.test(text), `${pattern} on ${text}`).toBe(expected.test(text));
    }
  });
});
