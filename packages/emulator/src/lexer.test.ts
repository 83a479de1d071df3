import { randomInt } from "node:crypto";
import { splitLobbyWords } from "@exedev-sandbox/testing";
import { describe, expect, it } from "vitest";
import { CommandSyntaxError, splitCommandLine } from "./lexer.js";

describe("splitCommandLine", () => {
  it("splits on any whitespace and drops empty words", () => {
    expect(splitCommandLine("  ls \t -l\n\r  foo  ")).toEqual(["ls", "-l", "foo"]);
    expect(splitCommandLine("new --comment='' --name=x ''")).toEqual(["new", "--comment=", "--name=x"]);
    expect(splitCommandLine("a\u00a0b\u0085c")).toEqual(["a", "b", "c"]);
  });

  it("keeps single-quoted text literally", () => {
    expect(splitCommandLine(String.raw`echo 'a \ b $HOME "q" \n'`)).toEqual([
      "echo",
      String.raw`a \ b $HOME "q" \n`,
    ]);
  });

  it("lets a backslash escape only quote and backslash inside double quotes", () => {
    expect(splitCommandLine(String.raw`x "a \"b\" c\\d \n \$e"`)).toEqual([
      "x",
      String.raw`a "b" c\d \n \$e`,
    ]);
  });

  it("makes the next character literal after a backslash outside quotes", () => {
    expect(splitCommandLine(String.raw`a\ b c\'d \"e\\`)).toEqual(["a b", "c'd", '"e\\']);
  });

  it("joins adjacent quoted and unquoted parts into one word", () => {
    expect(splitCommandLine(`--comment='it'"'"'s'" fine"`)).toEqual(["--comment=it's fine"]);
    expect(splitCommandLine(`'a''b'`)).toEqual(["ab"]);
  });

  it("expands nothing", () => {
    expect(splitCommandLine("ls * ~ $X `y` #z")).toEqual(["ls", "*", "~", "$X", "`y`", "#z"]);
  });

  it("refuses unbalanced quotes and a trailing backslash", () => {
    for (const line of ["ls 'open", 'ls "open', "ls \\", `ls "a\\`, "ls 'a\"", "'"]) {
      expect(() => splitCommandLine(line), line).toThrow(CommandSyntaxError);
    }
  });

  // Two independent implementations of go-shlex: the client's (core) and this server-side one.
  it("agrees with core's splitter on a corpus and on random lines", () => {
    const corpus = [
      "new --name=a --setup-script='echo hi\\nexit 0'",
      `cp 'src-vm' "dst-vm" --copy-tags=false`,
      String.raw`x "\a\b" '\'' a\\b`,
      "ls \t\n 'x y' \"z w\"",
      "😀 'é' \"日本\"",
    ];
    const alphabet = ["a", "b", " ", "\t", "'", '"', "\\", "$", "é", "\n"];
    for (let i = 0; i < 3000; i++) {
      corpus.push(
        Array.from({ length: randomInt(1, 14) }, () => alphabet[randomInt(alphabet.length)]).join(""),
      );
    }
    const outcome = (split: (line: string) => string[], line: string): string[] | "error" => {
      try {
        return split(line);
      } catch {
        return "error";
      }
    };
    for (const line of corpus) {
      expect(outcome(splitCommandLine, line), JSON.stringify(line)).toEqual(outcome(splitLobbyWords, line));
    }
  });
});
