import { describe, expect, it } from "vitest";
import { isSandboxError } from "../errors.js";
import { generateVmName, validateVmName } from "./vm-name.js";

function rejects(name: unknown): boolean {
  try {
    validateVmName(name as string);
    return false;
  } catch (error) {
    expect(isSandboxError(error, "invalid_argument")).toBe(true);
    return true;
  }
}

describe("validateVmName", () => {
  it("accepts names that follow exe.dev's rules", () => {
    for (const name of [
      "abcde",
      "my-box",
      "build-42",
      "a1b2c3",
      "sbx-k3j9x2ab",
      `a${"b".repeat(51)}`,
      "prod-2026-05",
    ]) {
      expect(validateVmName(name)).toBe(name);
    }
  });

  it("normalises a full host name to the bare name", () => {
    expect(validateVmName("my-box.exe.xyz")).toBe("my-box");
    expect(rejects("ab.exe.xyz")).toBe(true);
  });

  it("rejects wrong lengths and characters", () => {
    for (const name of [
      "abcd",
      `a${"b".repeat(52)}`,
      "",
      "My-box",
      "1abcde",
      "-abcde",
      "abcde-",
      "ab--cd",
      "ab_cd",
      "ab cd",
      "ab.cd",
      "abçde",
      "abcde\n",
    ]) {
      expect(rejects(name), name).toBe(true);
    }
    expect(rejects(42)).toBe(true);
    expect(rejects(undefined)).toBe(true);
  });

  it("rejects port-like names and endings", () => {
    for (const name of ["web-p8080", "web-port8080", "my-vm-p1", "p12345", "port8080", "na12345"]) {
      expect(rejects(name), name).toBe(true);
    }
    // Near misses stay valid: a plain -<digits> ending, digits before the p, a word that starts with p.
    for (const name of ["web-8080", "web-p8080x", "web-pizza", "np12345", "ports80x"]) {
      expect(validateVmName(name)).toBe(name);
    }
  });
});

describe("generateVmName", () => {
  it("makes 1000 valid, distinct names with the default prefix", () => {
    const names = Array.from({ length: 1000 }, () => generateVmName());
    for (const name of names) {
      expect(validateVmName(name)).toBe(name);
      expect(name).toMatch(/^sbx-[a-z0-9]{8}$/);
    }
    expect(new Set(names).size).toBe(1000);
  });

  it("uses a caller's prefix and checks it", () => {
    expect(generateVmName("ci-run")).toMatch(/^ci-run-[a-z0-9]{8}$/);
    expect(validateVmName(generateVmName("a"))).toMatch(/^a-[a-z0-9]{8}$/);
    expect(validateVmName(generateVmName("x".repeat(43)))).toHaveLength(52);
    for (const prefix of ["", "Ci", "1ab", "ab-", "a--b", "x".repeat(44), "has space", "ok-viagra"]) {
      expect(() => generateVmName(prefix), prefix).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
    }
  });
});
