import { describe, expect, it } from "vitest";
import { SandboxError } from "../errors.js";
import { createRedactor } from "./redact.js";
import { redactError } from "./redact-error.js";

describe("redactError", () => {
  it("copies errors redacted, without cause, details or stack frames", () => {
    const redact = createRedactor(["exe0.host-key"]);
    const original = new SandboxError("auth_failed", "bad token exe0.host-key", {
      cause: "exe0.host-key",
      details: { token: "exe0.host-key" },
    });
    const safe = redactError(original, redact);
    expect(safe.message).toBe("bad token [redacted]");
    expect(safe).toBeInstanceOf(SandboxError);
    expect(safe).toMatchObject({ code: "auth_failed", details: {}, retryable: false });
    expect(safe.cause).toBeUndefined();
    expect(safe.stack).not.toContain("host-key");
    const plain = redactError(new Error("ENOENT: exe0.host-key"), redact);
    expect(plain).toMatchObject({ name: "SandboxError", code: "io_error", message: "ENOENT: [redacted]" });
  });
});
