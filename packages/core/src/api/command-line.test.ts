import { type LobbyServer, parseLobbyArgs, splitLobbyWords, startLobbyServer } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSandboxError } from "../errors.js";
import {
  buildCommandLine,
  encodeSetupScript,
  MAX_BODY_BYTES,
  MAX_SETUP_SCRIPT_BYTES,
} from "./command-line.js";
import { createExeDevApi } from "./exe-dev-api.js";
import { withTestKnobs } from "./test-knobs.js";

function expectInvalid(run: () => unknown, pattern?: RegExp): void {
  try {
    run();
  } catch (error) {
    expect(isSandboxError(error, "invalid_argument")).toBe(true);
    if (pattern) expect((error as Error).message).toMatch(pattern);
    return;
  }
  throw new Error("expected an invalid_argument error");
}

describe("buildCommandLine", () => {
  const tricky = [
    "plain",
    "with space",
    "it's",
    "'",
    "''",
    `"double"`,
    "$HOME",
    "`id`",
    "$(id)",
    "a\\b",
    "\\",
    "#not-a-comment",
    "*",
    "; rm -rf /",
    "tab\there",
    "héllo wörld 🌍 日本語",
    "\u00a0nbsp\u2003em",
    "--",
    "-x",
  ];

  it("quotes every word so the lobby's lexer gives back exactly the same words", () => {
    const line = buildCommandLine(["echo", ...tricky]);
    expect(splitLobbyWords(line)).toEqual(["echo", ...tricky]);
    expect(line.startsWith("'echo' 'plain' 'with space' 'it'\\''s'")).toBe(true);
  });

  it("puts positionals first, then every flag as --name=value, booleans included", () => {
    const line = buildCommandLine(["cp", "src-vm", "dst-vm"], {
      cpu: 4,
      "copy-tags": false,
      json: true,
      tag: ["a", "b"],
      memory: undefined,
    });
    expect(splitLobbyWords(line)).toEqual([
      "cp",
      "src-vm",
      "dst-vm",
      "--cpu=4",
      "--copy-tags=false",
      "--json=true",
      "--tag=a",
      "--tag=b",
    ]);
    const { positionals, flags } = parseLobbyArgs(splitLobbyWords(line).slice(1));
    expect(positionals).toEqual(["src-vm", "dst-vm"]);
    expect(flags.get("json")).toEqual(["true"]);
  });

  it("keeps flags in front of a `--` the caller wrote", () => {
    expect(
      splitLobbyWords(buildCommandLine(["comment", "my-vm", "--", "-starts-with-dash"], { x: 1 })),
    ).toEqual(["comment", "my-vm", "--x=1", "--", "-starts-with-dash"]);
  });

  it("sends setup-script newlines and backslashes as the escapes the lobby expands", () => {
    const script = "#!/bin/bash\necho 'hi' \"$USER\" `date`\nprintf 'a\\tb\\n'\n";
    const line = buildCommandLine(["new"], { "setup-script": script });
    const [, flag] = splitLobbyWords(line);
    expect(flag).toBe(`--setup-script=${encodeSetupScript(script)}`);
    expect(flag).not.toContain("\n");
    expect(flag).toContain("\\n");
  });

  it("refuses NUL, CR/LF, empty words and lone surrogates, without quoting the value", () => {
    expectInvalid(() => buildCommandLine(["echo", "a\0b"]), /argument 2 must not contain NUL/);
    expectInvalid(() => buildCommandLine(["echo", "line\nbreak-secret"]), /line breaks/);
    expectInvalid(() => buildCommandLine(["echo", "cr\r"]), /line breaks/);
    expectInvalid(() => buildCommandLine(["echo", ""]), /argument 2 must not be empty/);
    expectInvalid(() => buildCommandLine(["echo", "\ud800"]), /surrogate/);
    expectInvalid(() => buildCommandLine(["new"], { comment: "two\nlines" }), /--comment value/);
    expectInvalid(() => buildCommandLine(["new"], { "setup-script": "echo\r\n" }), /LF line endings/);
    expectInvalid(() => buildCommandLine(["new"], { "setup-script": "a\0" }), /NUL/);
    expectInvalid(() => buildCommandLine(["new"], { "Bad Flag": "x" }), /flag name/);
    expectInvalid(() => buildCommandLine([]), /at least one word/);
    try {
      buildCommandLine(["echo", "line\nbreak-secret"]);
    } catch (error) {
      expect(JSON.stringify({ message: (error as Error).message, ...(error as object) })).not.toContain(
        "secret",
      );
    }
  });

  it("refuses setup scripts over 10 KiB and bodies over 64 KiB", () => {
    expect(() =>
      buildCommandLine(["new"], { "setup-script": "x".repeat(MAX_SETUP_SCRIPT_BYTES) }),
    ).not.toThrow();
    expectInvalid(
      () => buildCommandLine(["new"], { "setup-script": "x".repeat(MAX_SETUP_SCRIPT_BYTES + 1) }),
      /10 KiB/,
    );
    // Multi-byte characters count as bytes, not UTF-16 units.
    expectInvalid(
      () => buildCommandLine(["new"], { "setup-script": "é".repeat(MAX_SETUP_SCRIPT_BYTES / 2 + 1) }),
      /10 KiB/,
    );
    // "'echo' '" + x + "'" is 9 bytes of framing.
    expect(Buffer.byteLength(buildCommandLine(["echo", "x".repeat(MAX_BODY_BYTES - 9)]))).toBe(
      MAX_BODY_BYTES,
    );
    expectInvalid(() => buildCommandLine(["echo", "x".repeat(MAX_BODY_BYTES - 8)]), /64 KiB/);
  });
});

describe("command lines over the wire", () => {
  let server: LobbyServer;
  beforeAll(async () => {
    server = await startLobbyServer();
  });
  afterAll(() => server.close());
  const api = () =>
    createExeDevApi(
      withTestKnobs({
        token: server.token,
        baseUrl: server.url,
        retryBaseDelayMs: 1,
      }),
    );

  it("arrive as exactly the words sent, through the server's lexer", async () => {
    const words = ["echo", "it's", "$HOME", "`id`", "a b", "ü 🌍", `"q"`, "\\n", "-x"];
    const result = await api().run(words);
    expect(result).toEqual({ words });
    expect(server.requests.at(-1)?.words).toEqual(words);
  });

  it("carry flags after the positionals, with values the server reads correctly", async () => {
    await api().run(["echo", "pos"], { json: true, cpu: 2, env: ["A=it's $x"] });
    expect(server.requests.at(-1)?.words).toEqual([
      "echo",
      "pos",
      "--json=true",
      "--cpu=2",
      "--env=A=it's $x",
    ]);
  });

  it("deliver setup scripts with newlines, quotes, tabs and backslashes intact after the server expands them", async () => {
    const script = "#!/bin/bash\nset -e\necho \"it's $HOME\" `date`\tdone\nprintf '%s\\n' 'a\\\\b'\n";
    await api().newVm({ name: "script-vm", setupScript: script });
    expect(server.requests.at(-1)?.body).not.toContain("\n");
    expect(server.vms.get("script-vm")?.setupScript).toBe(script);
  });

  it("are refused before sending when too large", async () => {
    const before = server.requests.length;
    await expect(api().run(["echo", "x".repeat(MAX_BODY_BYTES)])).rejects.toMatchObject({
      code: "invalid_argument",
    });
    await expect(
      api().newVm({ name: "big-script", setupScript: "x".repeat(MAX_SETUP_SCRIPT_BYTES + 1) }),
    ).rejects.toMatchObject({ code: "invalid_argument" });
    expect(server.requests.length).toBe(before);
  });
});
