import { connectSandbox, isSandboxError } from "@exedev-sandbox/core";
import { describeWithSshd, useScratchSandbox } from "@exedev-sandbox/testing";
import { beforeAll, expect, it } from "vitest";
import { createDeepAgentsBackend, type ExeDevDeepAgentsBackend } from "./index.js";

/** The SandboxError code a call fails with (thrown or rejected), or what else happened. */
const codeOf = (call: () => unknown) =>
  Promise.resolve()
    .then(call)
    .then(
      () => "resolved",
      (error: unknown) => (isSandboxError(error) ? error.code : `raw ${String(error)}`),
    );

describeWithSshd("deepagents glob and grep with hostile patterns, on OpenSSH", () => {
  const vm = useScratchSandbox({ prefix: "glob" });
  let backend: ExeDevDeepAgentsBackend;
  beforeAll(async () => {
    backend = createDeepAgentsBackend(vm.sandbox, { timeoutMs: 30_000 });
    // A long name of one letter: what makes a backtracking "*a*a*a…b" take seconds to fail.
    await vm.sandbox.exec(
      `mkdir -p ${vm.dir}/src/${"a".repeat(9)}b && cd ${vm.dir}/src && touch ${"a".repeat(40)} ${"ax".repeat(8)}.txt ${"a".repeat(9)}b/x`,
    );
  });

  it("rejects a malformed class as invalid_argument before any I/O, on glob and grep alike", async () => {
    // A closed sandbox answers any I/O with "closed": invalid_argument means none was tried.
    const closed = await connectSandbox(vm.server.connectOptions());
    await closed.close();
    const offline = createDeepAgentsBackend(closed);
    for (const pattern of ["[z-a]", "**/[9-0]*.ts", "{a,b}/[[:nope:]]"]) {
      expect(await codeOf(() => offline.glob(pattern, vm.dir))).toBe("invalid_argument");
      expect(await codeOf(() => offline.grep("x", vm.dir, pattern))).toBe("invalid_argument");
      expect(await codeOf(() => backend.glob(pattern, vm.dir))).toBe("invalid_argument");
    }
    expect(await codeOf(() => offline.grep("x", vm.dir, "{a,b}".repeat(9)))).toBe("invalid_argument");
    // Groups by the thousand, nested or in a row: a SandboxError, never a stack overflow.
    const nested = `${"{a,".repeat(20_000)}b${"}".repeat(20_000)}`;
    for (const pattern of [nested, "{a,b}".repeat(20_000)]) {
      expect(await codeOf(() => offline.grep("x", vm.dir, pattern))).toBe("invalid_argument");
    }
    expect(await codeOf(() => offline.glob(nested, vm.dir))).toBe("invalid_argument");
  });

  it("answers a catastrophic pattern at once, and still finds what it matches", async () => {
    const started = performance.now();
    // A trailing "**" leaves find nothing to narrow by, so every path reaches the matcher.
    const result = await backend.glob("**/*a*a*a*a*a*a*a*a*a*b/**", vm.dir);
    // The old regex took ~15 s on the 40-letter name; the bound only tells it from that.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(result.files?.map((file) => file.path)).toEqual([`src/${"a".repeat(9)}b/x`]);
  });

  it("globs with many brace groups without expanding them into the command", async () => {
    const started = performance.now();
    const result = await backend.glob(`src/${"{a,x}".repeat(16)}*`, vm.dir);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(result.error).toBeUndefined();
    expect(result.files?.map((file) => file.path)).toEqual([
      `src/${"a".repeat(40)}`,
      `src/${"ax".repeat(8)}.txt`,
    ]);
  });
});
