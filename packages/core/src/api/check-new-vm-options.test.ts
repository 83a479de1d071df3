import { describe, expect, it } from "vitest";
import { MAX_SETUP_SCRIPT_BYTES } from "./command-line.js";
import { buildNewVmRequest, checkNewVmOptions, type NewVmOptions } from "./vm-options.js";

describe("checkNewVmOptions", () => {
  it("accepts what newVm accepts, and nothing at all", () => {
    const good: NewVmOptions = {
      name: "good-box",
      image: "ubuntu:24.04",
      command: "auto",
      cpu: 4,
      memory: "16GiB",
      disk: 50,
      env: { NODE_ENV: "production" },
      tags: ["ci", "paperclip"],
      integrations: ["github"],
      comment: "runs",
      setupScript: "#!/bin/sh\necho hi\n",
      prompt: "say hi",
      noEmail: false,
    };
    expect(checkNewVmOptions(good)).toEqual([]);
    expect(() => buildNewVmRequest(good)).not.toThrow();
    expect(checkNewVmOptions(undefined)).toEqual([]);
    expect(checkNewVmOptions({})).toEqual([]);
  });

  it("reports every bad option at once, one message per option and per env entry, in a fixed order", () => {
    const secret = "s3cr3t-env-value-that-must-not-leak";
    const problems = checkNewVmOptions({
      name: "Bad_Name",
      image: "two words",
      command: "a\nb",
      cpu: 0,
      memory: "lots",
      disk: -1,
      env: { GOOD: secret, "BAD-NAME": secret, MULTI: `${secret}\nx` },
      tags: ["Upper"],
      integrations: ["a,b"],
      comment: "x".repeat(201),
      setupScript: `${secret}\r\n`,
      prompt: `${secret}\nmore`,
      noEmail: "yes" as never,
    });
    expect(problems.map((problem) => problem.field)).toEqual([
      "name",
      "image",
      "command",
      "cpu",
      "memory",
      "disk",
      "env",
      "env",
      "tags",
      "integrations",
      "comment",
      "setupScript",
      "prompt",
      "noEmail",
    ]);
    for (const { field, message } of problems) {
      expect(message.toLowerCase()).toContain(field === "name" ? "vm name" : field.toLowerCase());
      expect(message).not.toContain(secret);
    }
    expect(problems.find((problem) => problem.field === "cpu")?.message).toBe(
      "cpu must be a whole number of at least 1.",
    );
  });

  it("gives the message newVm throws for the same option (one set of rules)", () => {
    for (const bad of [
      { cpu: 1.5 },
      { tags: ["-x"] },
      { comment: "tab\there" },
      { env: { A: 5 } },
    ] as NewVmOptions[]) {
      const [problem] = checkNewVmOptions(bad);
      expect(() => buildNewVmRequest(bad)).toThrow(problem!.message);
    }
  });

  it("checks a setup script's size and line ends as exe.dev stores it", () => {
    const big = `${"x".repeat(MAX_SETUP_SCRIPT_BYTES)}\n`;
    expect(checkNewVmOptions({ setupScript: big })).toEqual([
      { field: "setupScript", message: expect.stringContaining("at most 10240") },
    ]);
    expect(checkNewVmOptions({ setupScript: "a\0b" })[0]?.field).toBe("setupScript");
    expect(checkNewVmOptions({ setupScript: "x".repeat(MAX_SETUP_SCRIPT_BYTES) })).toEqual([]);
  });

  it("reports options that are not an object as one problem", () => {
    expect(checkNewVmOptions([] as never)).toEqual([
      { field: "options", message: "newVm options must be an object." },
    ]);
    expect(checkNewVmOptions({ env: "A=1" as never })).toEqual([
      { field: "env", message: "env must be an object." },
    ]);
  });
});
