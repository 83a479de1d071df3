import { describe, expect, it } from "vitest";
import { parseStrictJsonObject, StrictJsonError } from "./strict-json.js";

function reason(text: string): string {
  try {
    parseStrictJsonObject(text);
  } catch (error) {
    if (error instanceof StrictJsonError) return error.message;
    throw error;
  }
  return "accepted";
}

describe("parseStrictJsonObject", () => {
  it("returns each top-level member's raw text, in order", () => {
    const members = parseStrictJsonObject('{ "exp" : 1.0e3 , "cmds":[ "a" ,"b"],"ctx":{"k":{}} ,"z":"\\"}"}');
    expect([...members]).toEqual([
      ["exp", "1.0e3"],
      ["cmds", '[ "a" ,"b"]'],
      ["ctx", '{"k":{}}'],
      ["z", '"\\"}"'],
    ]);
    expect([...parseStrictJsonObject("{}")]).toEqual([]);
    expect([...parseStrictJsonObject('{"a":[],"b":{}}')]).toEqual([
      ["a", "[]"],
      ["b", "{}"],
    ]);
  });

  it("accepts everything JSON.parse accepts when keys are unique and surrogates paired", () => {
    const samples = [
      '{"a":[1,-2,3.5,-0.0,1e10,1E-5,2e+3,0]}',
      '{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\ud83d\\ude00 é 😀"}',
      '{"n":null,"t":true,"f":false,"o":{"a":{"b":[{"c":[[]]}]}}}',
      '{"":1," ":2}',
      ' {"a":1} ',
    ];
    for (const sample of samples) {
      expect(() => JSON.parse(sample)).not.toThrow();
      expect(reason(sample)).toBe("accepted");
    }
  });

  it("rejects what JSON.parse rejects", () => {
    const samples = [
      '{"a":01}',
      '{"a":1.}',
      '{"a":.5}',
      '{"a":-}',
      '{"a":1e}',
      '{"a":tru}',
      '{"a":"\\u12"}',
      '{"a"1}',
      "{1:1}",
    ];
    for (const sample of samples) {
      expect(() => JSON.parse(sample)).toThrow();
      expect(reason(sample)).not.toBe("accepted");
    }
  });

  it("rejects duplicates at any depth, after unescaping, but not the same key in sibling objects", () => {
    expect(reason('{"a":1,"a":1}')).toMatch(/duplicate key/);
    expect(reason('{"a":[{"b":1,"b":2}]}')).toMatch(/duplicate key/);
    expect(reason('{"a\\u0062":1,"ab":1}')).toMatch(/duplicate key/);
    expect(reason('{"a":{"b":1},"c":{"b":1}}')).toBe("accepted");
  });

  it("rejects unpaired surrogate escapes", () => {
    expect(reason('{"a":"\\ud800"}')).toMatch(/unpaired surrogate/);
    expect(reason('{"a":"\\ud800\\u0041"}')).toMatch(/unpaired surrogate/);
    expect(reason('{"a":"\\ude00"}')).toMatch(/unpaired surrogate/);
    expect(reason('{"\\ud800":1}')).toMatch(/unpaired surrogate/);
  });

  it("requires exactly one object", () => {
    expect(reason("[]")).toMatch(/expected an object/);
    expect(reason("")).toMatch(/expected an object/);
    expect(reason("{}{}")).toMatch(/after the object/);
    expect(reason('{"a":1')).toMatch(/expected/);
  });

  it("survives nesting far deeper than any token allows", () => {
    const depth = 100_000;
    expect(reason(`{"a":${"[".repeat(depth)}${"]".repeat(depth)}}`)).toBe("accepted");
    expect(reason(`{"a":${'{"b":'.repeat(depth)}1${"}".repeat(depth)}}`)).toBe("accepted");
  });

  it("never quotes the input in its messages", () => {
    expect(reason('{"secret-value":1,"secret-value":2}')).not.toContain("secret");
  });
});
