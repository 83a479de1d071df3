import { createRedactor, generateSshKeyPair } from "@exedev-sandbox/core";
import { describe, expect, it } from "vitest";
import { redactorFor, secretsOf } from "./redaction.js";

describe("redaction", () => {
  it("hides secrets as written, JSON-escaped, shell-quoted, and line by line", () => {
    const key = generateSshKeyPair().privateKey;
    const script = "echo 'it''s'\nexport TOKEN=abc123";
    const redact = redactorFor([{ privateKey: key, setupScript: script, env: { A: "env-secret" } }], {});
    const line = key.split("\n")[2]!;
    expect(redact(`key line ${line} here`)).toBe("key line [redacted] here");
    expect(redact(JSON.stringify({ script }))).toBe('{"script":"[redacted]"}');
    expect(redact(`quoted '${"env-secret".replaceAll("'", `'\\''`)}'`)).toBe("quoted '[redacted]'");
    expect(redact("nothing secret; short values like 1 stay")).toBe(
      "nothing secret; short values like 1 stay",
    );
  });

  it("hides a private key whole and by lines, but leaves the public key it holds readable", () => {
    const pair = generateSshKeyPair();
    const redact = redactorFor([{ privateKey: pair.privateKey }], {});
    expect(redact(`key ${pair.privateKey} end`)).toBe("key [redacted] end");
    expect(redact(`ssh-key add '${pair.publicKey}'`)).toBe(`ssh-key add '${pair.publicKey}'`);
  });

  it("includes the host's API-key fallback", () => {
    const redact = createRedactor(secretsOf({}, { EXE_API_KEY: "exe0.host-key" }));
    expect(redact("bad token exe0.host-key")).toBe("bad token [redacted]");
  });

  it("hides encoded forms too (core's redactor): base64 and URL-encoded", () => {
    const secret = "s3cr3t value/with+chars";
    const redact = createRedactor(secretsOf({ env: { A: secret } }, {}));
    const base64 = Buffer.from(secret).toString("base64");
    expect(redact(`auth ${base64}`)).toBe("auth [redacted]");
    expect(redact(`q=${encodeURIComponent(secret)}`)).toBe("q=[redacted]");
  });
});
