import { describe, expect, it } from "vitest";
import { loginShellCommand } from "./login-shell.js";

describe("loginShellCommand", () => {
  it("quotes every word and maps cwd and env onto core's loginShell", () => {
    expect(
      loginShellCommand({ command: "echo", args: ["a b", "it's"], cwd: "/w d", env: { X: "$1" } }),
    ).toEqual({
      command: `exec echo 'a b' 'it'\\''s'`,
      options: { loginShell: true, cwd: "/w d", env: { X: "$1" } },
    });
    expect(loginShellCommand({ command: "ls" })).toEqual({
      command: "exec ls",
      options: { loginShell: true },
    });
  });

  it("rejects what cannot be passed safely with invalid_argument", () => {
    for (const input of [
      { command: " " },
      { command: "ls", args: ["a\0b"] },
      { command: "ls", args: "x" as never },
    ]) {
      expect(() => loginShellCommand(input)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    }
  });
});
