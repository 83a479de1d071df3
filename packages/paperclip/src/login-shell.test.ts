import { describe, expect, it } from "vitest";
import { loginShellCommand } from "./login-shell.js";

describe("loginShellCommand", () => {
  it("quotes every word and runs it from the login shell", () => {
    expect(loginShellCommand({ command: "echo", args: ["a b", "it's"], cwd: "/w d", env: { X: "$1" } })).toBe(
      `exec "\${SHELL:-/bin/sh}" -l -c 'cd -- '\\''/w d'\\'' || exit 1\nexport X='\\''$1'\\''\nexec echo '\\''a b'\\'' '\\''it'\\''\\'\\'''\\''s'\\'''`,
    );
  });

  it("rejects what cannot be passed safely", () => {
    expect(() => loginShellCommand({ command: " " })).toThrow(/non-empty program name/);
    expect(() => loginShellCommand({ command: "ls", args: ["a\0b"] })).toThrow(/without NUL/);
    expect(() => loginShellCommand({ command: "ls", env: { "A-B": "1" } })).toThrow(
      /"A-B" is not a valid shell identifier/,
    );
  });
});
