import { randomBytes } from "node:crypto";
import { connectSandbox, isSandboxError, type SshSandbox } from "@exedev-sandbox/core";
import {
  defineAdapterContract,
  describeWithSshd,
  remainingProcesses,
  type SshdServer,
  startKillableMachine,
  startSshd,
} from "@exedev-sandbox/testing";
import { SandboxDiedError, type SandboxDriver, sandboxFromDriver } from "@flue/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExeDevDriver } from "./index.js";

const isDied = (error: unknown): boolean =>
  error instanceof SandboxDiedError || (error as { type?: unknown } | undefined)?.type === "sandbox_died";

describeWithSshd("createExeDevDriver on OpenSSH", () => {
  defineAdapterContract("flue: sandboxFromDriver(createExeDevDriver(core))", {
    failures: "rejects",
    capabilities: { cwd: true, timeout: true, abort: true },
    isDiedError: isDied,
    async setup() {
      const machine = await startKillableMachine();
      const core = await connectSandbox(machine.connectOptions());
      // The harness reaches the driver only through Flue's own wrapper, as an agent's tools do.
      const flue = sandboxFromDriver(createExeDevDriver(core), core.homeDir);
      return {
        sandbox: machine.checker,
        harness: {
          exec: (command, options) => flue.exec(command, options),
          readFile: (path) => flue.readFile(path),
          writeFile: (path, content) => flue.writeFile(path, content),
        },
        killMachine: machine.killMachine,
        dispose: async () => {
          await core.close();
          await machine.dispose();
        },
      };
    },
  });

  describe("each driver method", () => {
    let server: SshdServer;
    let sandbox: SshSandbox;
    let driver: SandboxDriver;
    let root: string;
    beforeAll(async () => {
      server = await startSshd();
      sandbox = await connectSandbox(server.connectOptions());
      driver = createExeDevDriver(sandbox);
      root = `${sandbox.homeDir}/flue-driver-${randomBytes(4).toString("hex")}`;
      await sandbox.mkdir(root);
    });
    afterAll(async () => {
      await sandbox?.rm(root, { recursive: true, force: true }).catch(() => {});
      await sandbox?.close();
      await server?.stop();
    });

    it("reads and writes text and bytes exactly, creating parents", async () => {
      const bytes = Buffer.concat([
        Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
        randomBytes(70_000),
      ]);
      await driver.writeFile(`${root}/bin/deep/blob`, new Uint8Array(bytes));
      const back = await driver.readFileBuffer(`${root}/bin/deep/blob`);
      expect(back).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(back).equals(bytes)).toBe(true);
      const text = "héllo ✓ 😀\r\nno newline at end";
      await driver.writeFile(`${root}/text.txt`, text);
      expect(await driver.readFile(`${root}/text.txt`)).toBe(text);
      expect(Buffer.from(await driver.readFileBuffer(`${root}/text.txt`)).toString("utf8")).toBe(text);
    });

    it("stats files, directories and links with real values only", async () => {
      await sandbox.writeFile(`${root}/stat/file.txt`, "12345");
      await sandbox.exec(`cd ${root}/stat && ln -s file.txt link && ln -s nowhere dangling && mkdir dir`);
      const before = Date.now();
      const file = await driver.stat(`${root}/stat/file.txt`);
      expect(Object.keys(file).sort()).toEqual(["isDirectory", "isFile", "isSymbolicLink", "mtime", "size"]);
      expect(file).toMatchObject({ isFile: true, isDirectory: false, isSymbolicLink: false, size: 5 });
      expect(file.mtime).toBeInstanceOf(Date);
      expect(Math.abs((file.mtime as Date).getTime() - before)).toBeLessThan(60_000);
      expect(await driver.stat(`${root}/stat/dir`)).toMatchObject({ isFile: false, isDirectory: true });
      // Flue's rule: a link describes its target, plus isSymbolicLink for the path itself.
      expect(await driver.stat(`${root}/stat/link`)).toMatchObject({
        isFile: true,
        isDirectory: false,
        isSymbolicLink: true,
        size: 5,
      });
      expect(await driver.stat(`${root}/stat/dangling`)).toMatchObject({
        isFile: false,
        isSymbolicLink: true,
      });
      const missing = await driver.stat(`${root}/stat/missing`).catch((e: unknown) => e);
      expect(isSandboxError(missing, "not_found")).toBe(true);
    });

    it("lists names only, hidden ones included", async () => {
      await sandbox.writeFile(`${root}/list/.hidden`, "");
      await sandbox.writeFile(`${root}/list/a.txt`, "a");
      await sandbox.mkdir(`${root}/list/sub/inner`, { recursive: true });
      expect(await driver.readdir(`${root}/list`)).toEqual([".hidden", "a.txt", "sub"]);
      expect(await driver.readdir(`${root}/list/sub`)).toEqual(["inner"]);
      await expect(driver.readdir(`${root}/list/a.txt`)).rejects.toMatchObject({ code: "not_a_directory" });
      await expect(driver.readdir(`${root}/list/missing`)).rejects.toMatchObject({ code: "not_found" });
    });

    it("answers exists without ever throwing", async () => {
      await sandbox.writeFile(`${root}/exists/file`, "x");
      await sandbox.exec(`ln -s nowhere ${root}/exists/dangling`);
      expect(await driver.exists(`${root}/exists/file`)).toBe(true);
      expect(await driver.exists(`${root}/exists`)).toBe(true);
      expect(await driver.exists(`${root}/exists/dangling`)).toBe(true);
      expect(await driver.exists(`${root}/exists/missing`)).toBe(false);
      expect(await driver.exists(`${root}/exists/file/below-a-file`)).toBe(false);
      expect(await driver.exists(`${root}/bad\0path`)).toBe(false); // core refuses it before any I/O
    });

    it("makes directories, recursively only when asked", async () => {
      await expect(driver.mkdir(`${root}/mk/a/b`)).rejects.toMatchObject({ code: "not_found" });
      expect(await sandbox.exists(`${root}/mk`)).toBe(false);
      await driver.mkdir(`${root}/mk/a/b`, { recursive: true });
      expect((await sandbox.stat(`${root}/mk/a/b`)).isDirectory).toBe(true);
      await driver.mkdir(`${root}/mk/a/b`, { recursive: true }); // an existing directory is fine
      await expect(driver.mkdir(`${root}/mk/a/b`)).rejects.toMatchObject({ code: "already_exists" });
      await driver.mkdir(`${root}/mk/single`);
      expect((await sandbox.stat(`${root}/mk/single`)).isDirectory).toBe(true);
    });

    it("removes exactly as recursive and force say", async () => {
      await sandbox.writeFile(`${root}/rm/tree/a/b/file`, "x");
      await sandbox.writeFile(`${root}/rm/tree/top`, "y");
      await expect(driver.rm(`${root}/rm/tree`)).rejects.toMatchObject({ code: "is_a_directory" });
      expect(await sandbox.exists(`${root}/rm/tree/a/b/file`)).toBe(true); // nothing was touched
      await driver.rm(`${root}/rm/tree`, { recursive: true });
      expect(await sandbox.exists(`${root}/rm/tree`)).toBe(false);
      await expect(driver.rm(`${root}/rm/tree`)).rejects.toMatchObject({ code: "not_found" });
      await driver.rm(`${root}/rm/tree`, { force: true });
      await driver.rm(`${root}/rm/tree`, { recursive: true, force: true });
      await sandbox.writeFile(`${root}/rm/file`, "z");
      await driver.rm(`${root}/rm/file`);
      expect(await sandbox.exists(`${root}/rm/file`)).toBe(false);
      // A name full of shell syntax is just a name: nothing is ever passed through a shell.
      const odd = `${root}/rm/$(touch pwned); * 'x"`;
      await sandbox.writeFile(odd, "odd");
      await driver.rm(odd);
      expect(await sandbox.readdir(`${root}/rm`)).toEqual([]);
      expect(await sandbox.exists(`${sandbox.homeDir}/pwned`)).toBe(false);
    });

    it("runs commands with cwd, env and Flue's result shape; non-zero exits resolve", async () => {
      const value = `it's "quoted" $HOME; \`x\``;
      const result = await driver.exec('printf "%s|%s" "$GREETING" "$(pwd)"; echo oops >&2; exit 5', {
        cwd: root,
        env: { GREETING: value },
      });
      expect(result).toEqual({ stdout: `${value}|${root}`, stderr: "oops\n", exitCode: 5 });
    });

    it("kills the remote process on timeout (exit 124) and on abort (core's aborted error)", async () => {
      const timedTag = `5${randomBytes(3).readUIntBE(0, 3)}.25`;
      expect((await driver.exec(`sleep ${timedTag}`, { timeoutMs: 300 })).exitCode).toBe(124);
      expect(await remainingProcesses(sandbox, `sleep ${timedTag}`)).toBe("");
      const abortTag = `4${randomBytes(3).readUIntBE(0, 3)}.25`;
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const error = await driver
        .exec(`sleep ${abortTag}`, { signal: controller.signal })
        .catch((e: unknown) => e);
      expect(isSandboxError(error, "aborted")).toBe(true); // passed through, not turned into "died"
      expect(await remainingProcesses(sandbox, `sleep ${abortTag}`)).toBe("");
    });

    it("turns a gone sandbox into SandboxDiedError, keeping core's error as the cause", async () => {
      const gone = await connectSandbox(server.connectOptions());
      await gone.close();
      const goneDriver = createExeDevDriver(gone);
      const error = await goneDriver.exec("true").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SandboxDiedError);
      expect(error).toMatchObject({ type: "sandbox_died", meta: { operation: "exec", reason: "stopped" } });
      expect(isSandboxError((error as Error).cause, "closed")).toBe(true);
      await expect(goneDriver.readFile("/etc/hostname")).rejects.toMatchObject({
        meta: { operation: "readFile" },
      });
      await expect(goneDriver.rm(`${root}/x`, { force: true })).rejects.toBeInstanceOf(SandboxDiedError);
      expect(await goneDriver.exists("/")).toBe(false);
    });
  });
});
