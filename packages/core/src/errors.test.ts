import { describe, expect, it } from "vitest";
import { isSandboxError, SandboxError } from "./errors.js";

describe("SandboxError", () => {
  it("carries a code, a retryable flag and details", () => {
    const error = new SandboxError("timeout", "took too long", { details: { ms: 5 } });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("SandboxError");
    expect(error.retryable).toBe(true);
    expect(error.details).toEqual({ ms: 5 });
    expect(new SandboxError("not_found", "x").retryable).toBe(false);
    expect(new SandboxError("not_found", "x", { retryable: true }).retryable).toBe(true);
  });

  it("is recognised across copies of the package by its registry symbol", () => {
    const foreign = Object.assign(new Error("from another copy"), { code: "not_found" });
    Object.defineProperty(foreign, Symbol.for("@exedev-sandbox/core.SandboxError"), { value: true });
    expect(isSandboxError(foreign, "not_found")).toBe(true);
    expect(isSandboxError(new Error("plain"))).toBe(false);
    expect(isSandboxError({ code: "not_found" })).toBe(false);
  });
});
