import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectSandbox, createExeDevApi, type SshSandbox, type VmInfo } from "@exedev-sandbox/core";
import {
  defineAdapterContract,
  describeWithSshd,
  routeLobbyToSshd,
  type SshdServer,
  startLobbyServer,
  startSshd,
} from "@exedev-sandbox/testing";
import { SandboxDiedError, sandboxFromDriver } from "@flue/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExeDevDriver, exedev } from "./index.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-flue-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const isDied = (error: unknown): boolean =>
  error instanceof SandboxDiedError || (error as { type?: unknown })?.type === "sandbox_died";

describeWithSshd("Flue adapter on OpenSSH", () => {
  defineAdapterContract("flue (sandboxFromDriver)", {
    failures: "rejects",
    capabilities: { cwd: true, timeout: true, abort: true },
    isDiedError: isDied,
    async setup() {
      const server = await startSshd();
      const sandbox = await connectSandbox(server.connectOptions());
      // Everything the harness does goes through Flue's own wrapper, as an agent's tools would.
      const flue = sandboxFromDriver(createExeDevDriver(sandbox), sandbox.homeDir);
      return {
        sandbox,
        harness: {
          exec: (command, options) => flue.exec(command, options),
          readFile: (path) => flue.readFile(path),
          writeFile: (path, content) => flue.writeFile(path, content),
        },
        killMachine: () => server.stop(),
        dispose: async () => {
          await sandbox.close();
          await server.stop();
        },
      };
    },
  });

  describe("driver and factory", () => {
    let server: SshdServer;
    let sandbox: SshSandbox;
    let root: string;
    beforeAll(async () => {
      server = await startSshd();
      sandbox = await connectSandbox(server.connectOptions());
      root = `${sandbox.homeDir}/flue-${randomBytes(4).toString("hex")}`;
      await sandbox.mkdir(root);
    });
    afterAll(async () => {
      await sandbox?.close();
      await server?.stop();
    });
    const vmInfo = (): VmInfo => ({
      name: "local-sshd",
      sshHost: server.host,
      sshPort: server.port,
      sshUser: server.username,
      tags: [],
      raw: {},
    });
    const sshOptions = () => ({
      privateKey: server.privateKey,
      knownHostsPath: join(scratch, `kh-${randomBytes(3).toString("hex")}`),
    });

    it("maps every driver method with Flue's semantics", async () => {
      const driver = createExeDevDriver(sandbox);
      const bytes = randomBytes(70_000);
      await driver.writeFile(`${root}/bin/blob`, bytes);
      expect(Buffer.from(await driver.readFileBuffer(`${root}/bin/blob`)).equals(bytes)).toBe(true);
      const stat = await driver.stat(`${root}/bin/blob`);
      expect(stat).toMatchObject({ isFile: true, isDirectory: false, isSymbolicLink: false, size: 70_000 });
      expect(stat.mtime).toBeInstanceOf(Date);
      expect(await driver.readdir(`${root}/bin`)).toEqual(["blob"]);
      expect(await driver.exists(`${root}/bin/blob`)).toBe(true);
      expect(await driver.exists(`${root}/nope`)).toBe(false);
      await driver.mkdir(`${root}/x/y/z`, { recursive: true });
      await expect(driver.mkdir(`${root}/p/q`)).rejects.toMatchObject({ code: "not_found" });
      await expect(driver.rm(`${root}/x`)).rejects.toMatchObject({ code: "is_a_directory" });
      await driver.rm(`${root}/x`, { recursive: true });
      await expect(driver.rm(`${root}/x`)).rejects.toMatchObject({ code: "not_found" });
      await driver.rm(`${root}/x`, { force: true });
      const result = await driver.exec("echo $GREETING; pwd", { cwd: root, env: { GREETING: "hi there" } });
      expect(result).toEqual({ stdout: `hi there\n${root}\n`, stderr: "", exitCode: 0 });
      expect((await driver.exec("sleep 30", { timeoutMs: 300 })).exitCode).toBe(124);
    });

    it("exists never throws, even when the sandbox is gone; other calls raise SandboxDiedError", async () => {
      const gone = await connectSandbox(server.connectOptions());
      await gone.close();
      const driver = createExeDevDriver(gone);
      expect(await driver.exists("/etc/hostname")).toBe(false);
      const error = await driver.exec("true").catch((e: unknown) => e);
      expect(isDied(error)).toBe(true);
    });

    it("reuses the sandbox of an agent id, and never deletes an attached VM", async () => {
      const factory = exedev(vmInfo(), sshOptions());
      const first = await factory.createSandbox({ id: "agent-1" });
      expect(await factory.createSandbox({ id: "agent-1" })).toBe(first);
      const other = await factory.createSandbox({ id: "agent-2" });
      expect(other).not.toBe(first);
      expect((await first.exec("echo from-flue")).stdout).toBe("from-flue\n");
      await factory.dispose();
      await factory.dispose();
      const error = await first.exec("true").catch((e: unknown) => e);
      expect(isDied(error)).toBe(true);
      await expect(factory.createSandbox({ id: "agent-3" })).rejects.toMatchObject({ code: "closed" });
    });

    it("wraps a core sandbox the caller holds without closing it", async () => {
      const factory = exedev(sandbox);
      const flue = await factory.createSandbox({ id: "mine" });
      expect(await flue.exists(root)).toBe(true);
      await factory.dispose();
      expect((await sandbox.exec("echo still-open")).stdout).toBe("still-open\n");
    });

    it("creates a VM per agent id and deletes exactly those on dispose", async () => {
      const lobby = await startLobbyServer({ sshStyle: "gateway" });
      try {
        routeLobbyToSshd(lobby, server);
        const api = createExeDevApi({ baseUrl: lobby.url, token: lobby.token });
        const existing = await api.newVm({ name: "kept-base-vm" });
        const factory = exedev(undefined, { create: { tags: ["agents"] }, api, ...sshOptions() });
        const a = await factory.createSandbox({ id: "agent-a" });
        await factory.createSandbox({ id: "agent-a" });
        await factory.createSandbox({ id: "agent-b" });
        expect((await a.exec("echo made")).stdout).toBe("made\n");
        expect(lobby.count("new")).toBe(3); // the base VM, then one per agent id
        await factory.dispose();
        expect([...lobby.vms.keys()]).toEqual([existing.name]);
      } finally {
        await lobby.close();
      }
    });

    it("rejects a bad vm argument before any I/O", () => {
      expect(() => exedev(42 as never)).toThrow(/VM name/);
    });
  });
});
