// What core's entry point offers at run time: what users need, not what servers or this
// repository's tests need.
import { describe, expect, it } from "vitest";
import * as core from "./index.js";

describe("core's public entry point", () => {
  it("has no lobby parsers (servers read command lines; they live in the testing kit)", () => {
    expect(Object.keys(core)).not.toContain("parseLobbyArgs");
    expect(Object.keys(core)).not.toContain("splitLobbyWords");
  });

  it("exports SshSandbox as a type only: sandboxes come from connectSandbox", () => {
    expect(Object.keys(core)).not.toContain("SshSandbox");
    expect(typeof core.connectSandbox).toBe("function");
  });
});
