import { describe, expect, it } from "vitest";
import { isSandboxError } from "./errors.js";
import { DEFAULT_SETUP_TIMEOUT_MS, parseSetupPoll, planSetupWait } from "./setup-wait.js";

describe("planSetupWait", () => {
  it("waits by default only when a setup script was given", () => {
    expect(planSetupWait(undefined, true)).toBe(DEFAULT_SETUP_TIMEOUT_MS);
    expect(planSetupWait(undefined, false)).toBeUndefined();
    expect(planSetupWait(false, true)).toBeUndefined();
    expect(planSetupWait(true, false)).toBe(600_000);
    expect(planSetupWait({ timeoutMs: 5 }, true)).toBe(5);
    expect(planSetupWait({}, true)).toBe(DEFAULT_SETUP_TIMEOUT_MS);
  });

  it.each([["yes"], [1], [null], [[]], [{ timeoutMs: -1 }], [{ timeoutMs: "1" }]])("rejects %j", (value) => {
    let caught: unknown;
    try {
      planSetupWait(value, true);
    } catch (error) {
      caught = error;
    }
    expect(isSandboxError(caught, "invalid_argument")).toBe(true);
  });
});

describe("parseSetupPoll", () => {
  it.each([
    ["activating 1", "running"],
    ["activating 0", "running"],
    // The unit has not started yet: inactive, but the script file is still there.
    ["inactive 1", "running"],
    ["inactive 0", "done"],
    ["active 0", "done"],
    ["failed 1", "failed"],
    ["failed 0", "failed"],
    ["deactivating 0", "running"],
    ["", "running"],
  ])("%j is %s", (stdout, state) => {
    expect(parseSetupPoll(`${stdout}\n`)).toBe(state);
  });
});
