import { describe, expect, it } from "vitest";
import { FlagError, type FlagSpec, parseFlags } from "./flags.js";

const spec: FlagSpec = {
  name: { type: "string", description: "" },
  json: { type: "bool", description: "" },
  cpu: { type: "uint", description: "" },
  tag: { type: "list", description: "" },
  integration: { type: "list", description: "", aliases: ["int"] },
};

describe("parseFlags", () => {
  it("takes values after = or in the next word, with one or two dashes", () => {
    const { positionals, flags } = parseFlags(["--name=a", "-cpu", "4", "--tag", "x,y", "-tag=z"], spec);
    expect(positionals).toEqual([]);
    expect(flags.string("name")).toBe("a");
    expect(flags.uint("cpu")).toBe(4);
    expect(flags.list("tag")).toEqual(["x,y", "z"]);
  });

  it("keeps the last value of a repeated single-valued flag and every value of a list", () => {
    const { flags } = parseFlags(["--name=a", "--name=b", "--int=i1", "--integration", "i2"], spec);
    expect(flags.string("name")).toBe("b");
    expect(flags.list("integration")).toEqual(["i1", "i2"]);
  });

  it("reads booleans without swallowing the next word", () => {
    const parsed = parseFlags(["--json", "src", "--name=x"], spec);
    expect(parsed.positionals).toEqual(["src"]);
    expect(parsed.flags.bool("json")).toBe(true);
    expect(parseFlags(["--json=false"], spec).flags.bool("json")).toBe(false);
    expect(parseFlags(["--json=T"], spec).flags.bool("json")).toBe(true);
    expect(parseFlags([], spec).flags.bool("json")).toBeUndefined();
    expect(parseFlags([], spec).flags.has("json")).toBe(false);
  });

  it("accepts flags after positionals, and treats everything after -- as positional", () => {
    const parsed = parseFlags(["a", "--name=n", "b", "--", "--json", "-x"], spec);
    expect(parsed.positionals).toEqual(["a", "b", "--json", "-x"]);
    expect(parsed.flags.string("name")).toBe("n");
    expect(parsed.flags.has("json")).toBe(false);
    expect(parseFlags(["-", "x"], spec).positionals).toEqual(["-", "x"]);
  });

  it("takes a next word that starts with a dash as a value, as Go's flag package does", () => {
    expect(parseFlags(["--name", "-odd"], spec).flags.string("name")).toBe("-odd");
  });

  it("answers --help and -h for any command", () => {
    expect(parseFlags(["--help"], spec).flags.bool("help")).toBe(true);
    expect(parseFlags(["-h"], spec).flags.bool("help")).toBe(true);
  });

  it("fails with Go's messages", () => {
    const failure = (words: string[]) => {
      try {
        parseFlags(words, spec);
      } catch (error) {
        expect(error).toBeInstanceOf(FlagError);
        return (error as Error).message;
      }
      return "no error";
    };
    expect(failure(["--nope"])).toBe("flag provided but not defined: -nope");
    expect(failure(["--name"])).toBe("flag needs an argument: -name");
    expect(failure(["--json=maybe"])).toBe('invalid boolean value "maybe" for -json: parse error');
    expect(failure(["--cpu=-1"])).toBe('invalid value "-1" for flag -cpu: parse error');
    expect(failure(["--cpu", "two"])).toBe('invalid value "two" for flag -cpu: parse error');
    expect(failure(["---name=x"])).toBe("bad flag syntax: ---name=x");
    expect(failure(["--=x"])).toBe("bad flag syntax: --=x");
  });
});
