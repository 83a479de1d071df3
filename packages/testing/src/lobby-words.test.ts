import { isSandboxError } from "@exedev-sandbox/core";
import { describe, expect, it } from "vitest";
import { parseLobbyArgs, splitLobbyWords } from "./lobby-words.ts";

describe("splitLobbyWords (a port of go-shlex, posix mode)", () => {
  it("agrees with go-shlex's own posix test cases", () => {
    expect(splitLobbyWords(`Do"Not"Separate`)).toEqual(["DoNotSeparate"]);
    expect(splitLobbyWords(`"Do"Separate`)).toEqual(["DoSeparate"]);
    expect(splitLobbyWords(`Escaped \\e Character`)).toEqual(["Escaped", "e", "Character"]);
    expect(splitLobbyWords(`Escaped "\\e" x`)).toEqual(["Escaped", "\\e", "x"]);
    expect(splitLobbyWords(`Escaped '\\e' x`)).toEqual(["Escaped", "\\e", "x"]);
    expect(splitLobbyWords(`Escaped '\\'' \\"\\'\\" single quote`)).toEqual([
      "Escaped",
      `\\ \\"\\"`,
      "single",
      "quote",
    ]);
    expect(splitLobbyWords(`Escaped "\\"" \\'\\"\\' double quote`)).toEqual([
      "Escaped",
      `"`,
      `'"'`,
      "double",
      "quote",
    ]);
    expect(splitLobbyWords(`"'Strip extra layer of quotes'"`)).toEqual(["'Strip extra layer of quotes'"]);
    expect(splitLobbyWords(`a '' b`)).toEqual(["a", "b"]);
    expect(() => splitLobbyWords(`it's`)).toThrow(/closing/);
  });

  it("reproduces the lobby's flag trap: a bare flag swallows the next word", () => {
    expect(parseLobbyArgs(["--json", "src", "--cpu=4"])).toEqual({
      positionals: [],
      flags: new Map([
        ["json", ["src"]],
        ["cpu", ["4"]],
      ]),
    });
  });
});

describe("lobby parsers' bad input", () => {
  const refusal = (run: () => unknown): unknown => {
    try {
      run();
    } catch (error) {
      return error;
    }
    return undefined;
  };

  it("refuses what is not a string, or an unfinished quote or escape, with invalid_argument", () => {
    for (const bad of [undefined, null, 42, {}, [], () => "x", Symbol("s"), 10n]) {
      expect(
        isSandboxError(
          refusal(() => splitLobbyWords(bad as string)),
          "invalid_argument",
        ),
      ).toBe(true);
    }
    for (const bad of ["it's", 'say "hi', "trailing\\"]) {
      expect(
        isSandboxError(
          refusal(() => splitLobbyWords(bad)),
          "invalid_argument",
        ),
        bad,
      ).toBe(true);
    }
    for (const bad of [null, 42, "ls", [42]]) {
      expect(
        isSandboxError(
          refusal(() => parseLobbyArgs(bad as never)),
          "invalid_argument",
        ),
      ).toBe(true);
    }
  });
});
