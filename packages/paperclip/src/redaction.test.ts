import { generateSshKeyPair } from "@exedev-sandbox/core";
import { describe, expect, it } from "vitest";
import { createRedactor, redactError, secretsOf } from "./redaction.js";

describe("redaction", () => {
  it("hides secrets as written, JSON-escaped, shell-quoted, and line by line", () => {
    const key = generateSshKeyPair().privateKey;
    const script = "echo 'it''s'\nexport TOKEN=abc123";
    const redact = createRedactor(
      secretsOf({ privateKey: key, setupScript: script, env: { A: "env-secret" } }, {}),
    );
    const line = key.split("\n")[2]!;
    expect(redact(`key line ${line} here`)).toBe("key line [redacted] here");
    expect(redact(JSON.stringify({ script }))).toBe('{"script":"[redacted]"}');
    expect(redact(`quoted '${"env-secret".replaceAll("'", `'\\''`)}'`)).toBe("quoted '[redacted]'");
    expect(redact("nothing secret; short values like 1 stay")).toBe(
      "nothing secret; short values like 1 stay",
    );
  });

  it("includes the host's API-key fallback, and copies errors without cause or stack", () => {
    const redact = createRedactor(secretsOf({}, { EXE_API_KEY: "exe0.host-key" }));
    const original = Object.assign(new Error("bad token exe0.host-key"), {
      code: "auth_failed",
      cause: "exe0.host-key",
    });
    const safe = redactError(original, redact);
    expect(safe.message).toBe("bad token [redacted]");
    expect(safe).toMatchObject({ code: "auth_failed" });
    expect(safe.cause).toBeUndefined();
    expect(safe.stack).not.toContain("host-key");
  });
});
