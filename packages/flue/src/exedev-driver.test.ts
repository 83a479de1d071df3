import { randomBytes } from "node:crypto";
import { connectSandbox, isSandboxError } from "@exedev-sandbox/core";
import {
  defineAdapterContract,
  describeWithSshd,
  remainingProcesses,
  useScratchSandbox,
} from "@exedev-sandbox/testing";
import { SandboxDiedError, type SandboxDriver, sandboxFromDriver } from "@flue/runtime";
import { beforeAll, describe, expect, it } from "vitest";
import { createExeDevDriver } from "./index.js";

const isDied = (error: unknown): boolean =>
  error instanceof SandboxDiedError || (error as { type?: unknown } | undefined)?.type === "sandbox_died";

describeWithSshd("createExeDevDriver on OpenSSH", () => {
  defineAdapterContract("flue: sandboxFromDriver(createExeDevDriver(core))", {
    failures: "rejects",
    capabilities: { cwd: true, timeout: true, abort: true },
    isDiedError: isDied,
    async setup(machine) {
      const core = await connectSandbox(machine.connectOptions());
      // The harness reaches the driver only through Flue's own wrapper, as an agent's tools do.
      return {
        harness: sandboxFromDriver(createExeDevDriver(core), core.homeDir),
        dispose: () => core.close(),
      };
    },
  });

  describe("each driver method", () => {
    const vm = useScratchSandbox({ prefix: "flue-driver" });
    let driver: SandboxDriver;
    beforeAll(() => {
      driver = createExeDevDriver(vm.sandbox);
    });

    it("reads and writes text and bytes exactly, creating parents", async () => {
      const bytes = Buffer.concat([
        Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
        randomBytes(70_000),
      ]);
      await driver.writeFile(`${vm.dir}/bin/deep/blob`, new Uint8Array(bytes));
      const back = await driver.readFileBuffer(`${vm.dir}/bin/deep/blob`);
      expect(back).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(back).equals(bytes)).toBe(true);
      const text = "héllo ✓ 😀\r\nno newline at end";
      await driver.writeFile(`${vm.dir}/text.txt`, text);
      expect(await driver.readFile(`${vm.dir}/text.txt`)).toBe(text);
      expect(Buffer.from(await driver.readFileBuffer(`${vm.dir}/text.txt`)).toString("utf8")).toBe(text);
    });

    it("stats files, directories and links with real values only", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/stat/file.txt`, "12345");
      await vm.sandbox.exec(
        `cd ${vm.dir}/stat && ln -s file.txt link && ln -s nowhere dangling && mkdir dir`,
      );
      const before = Date.now();
      const file = await driver.stat(`${vm.dir}/stat/file.txt`);
      expect(Object.keys(file).sort()).toEqual(["isDirectory", "isFile", "isSymbolicLink", "mtime", "size"]);
      expect(file).toMatchObject({ isFile: true, isDirectory: false, isSymbolicLink: false, size: 5 });
      expect(file.mtime).toBeInstanceOf(Date);
      expect(Math.abs((file.mtime as Date).getTime() - before)).toBeLessThan(60_000);
      expect(await driver.stat(`${vm.dir}/stat/dir`)).toMatchObject({ isFile: false, isDirectory: true });
      // Flue's rule: a link describes its target, plus isSymbolicLink for the path itself.
      expect(await driver.stat(`${vm.dir}/stat/link`)).toMatchObject({
        isFile: true,
        isDirectory: false,
        isSymbolicLink: true,
        size: 5,
      });
      expect(await driver.stat(`${vm.dir}/stat/dangling`)).toMatchObject({
        isFile: false,
        isSymbolicLink: true,
      });
      const missing = await driver.stat(`${vm.dir}/stat/missing`).catch((e: unknown) => e);
      expect(isSandboxError(missing, "not_found")).toBe(true);
    });

    it("lists names only, hidden ones included", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/list/.hidden`, "");
      await vm.sandbox.writeFile(`${vm.dir}/list/a.txt`, "a");
      await vm.sandbox.mkdir(`${vm.dir}/list/sub/inner`, { recursive: true });
      expect(await driver.readdir(`${vm.dir}/list`)).toEqual([".hidden", "a.txt", "sub"]);
      expect(await driver.readdir(`${vm.dir}/list/sub`)).toEqual(["inner"]);
      await expect(driver.readdir(`${vm.dir}/list/a.txt`)).rejects.toMatchObject({ code: "not_a_directory" });
      await expect(driver.readdir(`${vm.dir}/list/missing`)).rejects.toMatchObject({ code: "not_found" });
    });

    it("answers exists without ever throwing", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/exists/file`, "x");
      await vm.sandbox.exec(`ln -s nowhere ${vm.dir}/exists/dangling`);
      expect(await driver.exists(`${vm.dir}/exists/file`)).toBe(true);
      expect(await driver.exists(`${vm.dir}/exists`)).toBe(true);
      expect(await driver.exists(`${vm.dir}/exists/dangling`)).toBe(true);
      expect(await driver.exists(`${vm.dir}/exists/missing`)).toBe(false);
      expect(await driver.exists(`${vm.dir}/exists/file/below-a-file`)).toBe(false);
      expect(await driver.exists(`${vm.dir}/bad\0path`)).toBe(false); // core refuses it before any I/O
    });

    it("makes directories, recursively only when asked", async () => {
      await expect(driver.mkdir(`${vm.dir}/mk/a/b`)).rejects.toMatchObject({ code: "not_found" });
      expect(await vm.sandbox.exists(`${vm.dir}/mk`)).toBe(false);
      await driver.mkdir(`${vm.dir}/mk/a/b`, { recursive: true });
      expect((await vm.sandbox.stat(`${vm.dir}/mk/a/b`)).isDirectory).toBe(true);
      await driver.mkdir(`${vm.dir}/mk/a/b`, { recursive: true }); // an existing directory is fine
      await expect(driver.mkdir(`${vm.dir}/mk/a/b`)).rejects.toMatchObject({ code: "already_exists" });
      await driver.mkdir(`${vm.dir}/mk/single`);
      expect((await vm.sandbox.stat(`${vm.dir}/mk/single`)).isDirectory).toBe(true);
    });

    it("removes exactly as recursive and force say", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/rm/tree/a/b/file`, "x");
      await vm.sandbox.writeFile(`${vm.dir}/rm/tree/top`, "y");
      await expect(driver.rm(`${vm.dir}/rm/tree`)).rejects.toMatchObject({ code: "is_a_directory" });
      expect(await vm.sandbox.exists(`${vm.dir}/rm/tree/a/b/file`)).toBe(true); // nothing was touched
      await driver.rm(`${vm.dir}/rm/tree`, { recursive: true });
      expect(await vm.sandbox.exists(`${vm.dir}/rm/tree`)).toBe(false);
      await expect(driver.rm(`${vm.dir}/rm/tree`)).rejects.toMatchObject({ code: "not_found" });
      await driver.rm(`${vm.dir}/rm/tree`, { force: true });
      await driver.rm(`${vm.dir}/rm/tree`, { recursive: true, force: true });
      await vm.sandbox.writeFile(`${vm.dir}/rm/file`, "z");
      await driver.rm(`${vm.dir}/rm/file`);
      expect(await vm.sandbox.exists(`${vm.dir}/rm/file`)).toBe(false);
      // A name full of shell syntax is just a name: nothing is ever passed through a shell.
      const odd = `${vm.dir}/rm/$(touch pwned); * 'x"`;
      await vm.sandbox.writeFile(odd, "odd");
      await driver.rm(odd);
      expect(await vm.sandbox.readdir(`${vm.dir}/rm`)).toEqual([]);
      expect(await vm.sandbox.exists(`${vm.sandbox.homeDir}/pwned`)).toBe(false);
    });

    it("runs commands with cwd, env and Flue's result shape; non-zero exits resolve", async () => {
      const value = `it's "quoted" $HOME; \`x\``;
      const result = await driver.exec('printf "%s|%s" "$GREETING" "$(pwd)"; echo oops >&2; exit 5', {
        cwd: vm.dir,
        env: { GREETING: value },
      });
      expect(result).toEqual({ stdout: `${value}|${vm.dir}`, stderr: "oops\n", exitCode: 5 });
    });

    it("kills the remote process on timeout (exit 124) and on abort (core's aborted error)", async () => {
      const timedTag = `5${randomBytes(3).readUIntBE(0, 3)}.25`;
      expect((await driver.exec(`sleep ${timedTag}`, { timeoutMs: 300 })).exitCode).toBe(124);
      expect(await remainingProcesses(vm.sandbox, `sleep ${timedTag}`)).toBe("");
      const abortTag = `4${randomBytes(3).readUIntBE(0, 3)}.25`;
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const error = await driver
        .exec(`sleep ${abortTag}`, { signal: controller.signal })
        .catch((e: unknown) => e);
      expect(isSandboxError(error, "aborted")).toBe(true); // passed through, not turned into "died"
      expect(await remainingProcesses(vm.sandbox, `sleep ${abortTag}`)).toBe("");
    });

    it("turns a gone sandbox into SandboxDiedError, keeping core's error as the cause", async () => {
      const gone = await connectSandbox(vm.server.connectOptions());
      await gone.close();
      const goneDriver = createExeDevDriver(gone);
      const error = await goneDriver.exec("true").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SandboxDiedError);
      expect(error).toMatchObject({ type: "sandbox_died", meta: { operation: "exec", reason: "stopped" } });
      expect(isSandboxError((error as Error).cause, "closed")).toBe(true);
      await expect(goneDriver.readFile("/etc/hostname")).rejects.toMatchObject({
        meta: { operation: "readFile" },
      });
      await expect(goneDriver.rm(`${vm.dir}/x`, { force: true })).rejects.toBeInstanceOf(SandboxDiedError);
      expect(await goneDriver.exists("/")).toBe(false);
    });
  });
});
