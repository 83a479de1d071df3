import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectSandbox, createExeDevApi, type SshSandbox, type VmInfo } from "@exedev-sandbox/core";
import {
  defineAdapterContract,
  describeWithSshd,
  type LobbyServer,
  MACHINE_GONE_RECONNECT_MS,
  routeLobbyToSshd,
  type SshdServer,
  startForwarder,
  startLobbyServer,
  startSshd,
} from "@exedev-sandbox/testing";
import { type Sandbox as FlueSandbox, SandboxDiedError } from "@flue/runtime";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { disposeExeDevSandboxes, exedev } from "./index.js";

const isDied = (error: unknown): boolean =>
  error instanceof SandboxDiedError || (error as { type?: unknown } | undefined)?.type === "sandbox_died";

const scratch = mkdtempSync(join(tmpdir(), "exedev-flue-factory-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The VM record of a loopback sshd, as exe.dev's API would describe a VM. */
const vmInfoOf = (server: SshdServer, name = "local-sshd"): VmInfo => ({
  name,
  sshHost: server.host,
  sshPort: server.port,
  sshUser: server.username,
  tags: [],
  raw: {},
});

/** SSH options for a loopback sshd, with a known_hosts file of their own. */
const sshOptionsOf = (server: SshdServer) => ({
  privateKey: server.privateKey,
  hostKey: { sha256: server.hostKeyFingerprint },
  knownHostsPath: join(scratch, `known_hosts-${randomBytes(4).toString("hex")}`),
});

/** Which SSH connection served a command: its client port, as sshd saw it. */
const connectionOf = async (sandbox: FlueSandbox): Promise<string> =>
  (await sandbox.exec("echo $SSH_CONNECTION")).stdout.split(" ")[1] ?? "";

describeWithSshd("exedev() factory on OpenSSH", () => {
  defineAdapterContract("flue: exedev(vmInfo).createSandbox({ id })", {
    failures: "rejects",
    capabilities: { cwd: true, timeout: true, abort: true },
    isDiedError: isDied,
    async setup({ server, port }) {
      const ssh = { ...sshOptionsOf(server), reconnectMs: MACHINE_GONE_RECONNECT_MS };
      const factory = exedev({ ...vmInfoOf(server), sshPort: port }, ssh);
      return {
        harness: await factory.createSandbox({ id: "contract-agent" }),
        dispose: () => factory.dispose(),
      };
    },
  });

  describe("attached VMs", () => {
    let server: SshdServer;
    let checker: SshSandbox;
    beforeAll(async () => {
      server = await startSshd();
      checker = await connectSandbox(server.connectOptions());
    });
    afterAll(async () => {
      await checker?.close();
      await server?.stop();
    });
    afterEach(() => disposeExeDevSandboxes());

    it("shares one connection among every render's fresh factory and every agent id", async () => {
      const ssh = sshOptionsOf(server);
      // Flue builds a new factory object on every render; equal arguments must find the same sandbox.
      const first = await exedev(vmInfoOf(server), ssh).createSandbox({ id: "agent-1" });
      expect(await exedev(vmInfoOf(server), ssh).createSandbox({ id: "agent-1" })).toBe(first);
      const other = await exedev(vmInfoOf(server), { ...ssh }).createSandbox({ id: "agent-2" });
      expect(await connectionOf(other)).toBe(await connectionOf(first));
      expect(first.cwd).toBe(checker.homeDir);
      // Different SSH options are a different configuration, with a connection of its own.
      const separate = await exedev(vmInfoOf(server), sshOptionsOf(server)).createSandbox({ id: "agent-1" });
      expect(await connectionOf(separate)).not.toBe(await connectionOf(first));
    });

    it("dispose() closes the connection, refuses new sandboxes, and never touches the VM", async () => {
      const ssh = sshOptionsOf(server);
      const factory = exedev(vmInfoOf(server), ssh);
      const flue = await factory.createSandbox({ id: "agent" });
      await flue.writeFile("flue-attached.txt", "still here");
      const before = await connectionOf(flue);
      await factory.dispose();
      await factory.dispose(); // safe twice
      expect(isDied(await flue.exec("true").catch((e: unknown) => e))).toBe(true);
      await expect(factory.createSandbox({ id: "agent" })).rejects.toMatchObject({ code: "closed" });
      expect(await checker.readFile(`${checker.homeDir}/flue-attached.txt`)).toBe("still here");
      // A factory built afterwards (the next render) connects afresh.
      const again = await exedev(vmInfoOf(server), ssh).createSandbox({ id: "agent" });
      expect(await connectionOf(again)).not.toBe(before);
      await checker.rm(`${checker.homeDir}/flue-attached.txt`);
    });

    it("attaches to $EXE_VM_HOST when no vm is given", async () => {
      const saved = process.env.EXE_VM_HOST;
      process.env.EXE_VM_HOST = `${server.username}@${server.host}`;
      try {
        const flue = await exedev(undefined, { ...sshOptionsOf(server), port: server.port }).createSandbox({
          id: "env-agent",
        });
        expect((await flue.exec("echo from-env")).stdout).toBe("from-env\n");
      } finally {
        if (saved === undefined) delete process.env.EXE_VM_HOST;
        else process.env.EXE_VM_HOST = saved;
      }
    });

    it("wraps a core sandbox the caller holds, and never closes it", async () => {
      const factory = exedev(checker);
      const flue = await factory.createSandbox({ id: "mine" });
      expect(await factory.createSandbox({ id: "other" })).toBe(flue);
      expect(await flue.exists(checker.homeDir)).toBe(true);
      await factory.dispose();
      await disposeExeDevSandboxes();
      expect((await checker.exec("echo still-open")).stdout).toBe("still-open\n");
    });

    it("checks its arguments before any I/O, and connects only when Flue asks", async () => {
      expect(() => exedev(42 as never)).toThrow(/VM name/);
      expect(() => exedev("my-vm", { create: true })).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
      expect(() => exedev("my-vm", null as never)).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
      const unreachable = exedev("nowhere.invalid", {
        readyTimeoutMs: 2000,
        knownHostsPath: join(scratch, "kh-x"),
      });
      await expect(unreachable.createSandbox({ id: "x" })).rejects.toMatchObject({
        code: "connection_failed",
      });
    });
  });

  describe("through the exe.dev API", () => {
    let lobby: LobbyServer;
    beforeAll(async () => {
      lobby = await startLobbyServer();
    });
    afterAll(async () => {
      await lobby?.close();
    });
    afterEach(async () => {
      await disposeExeDevSandboxes().catch(() => {});
      lobby.vms.clear(); // a failed test must not skew the counts of the next
    });

    it("replaces a sandbox found gone with a new connection, and never deletes an attached VM", async () => {
      const server = await startSshd();
      const before = await startForwarder(server);
      const after = await startForwarder(server);
      try {
        routeLobbyToSshd(lobby, { ...server, port: before.port });
        const api = createExeDevApi({ baseUrl: lobby.url, token: lobby.token });
        const { name } = await api.newVm({ name: "kept-vm" });
        const options = {
          api,
          privateKey: server.privateKey,
          knownHostsPath: join(scratch, "kh-reconnect"),
          reconnectMs: MACHINE_GONE_RECONNECT_MS, // the old path is gone for good
        };
        const removedBefore = lobby.count("rm");
        const old = await exedev(name, options).createSandbox({ id: "agent" });
        expect((await old.exec("echo one")).stdout).toBe("one\n");
        await before.kill(); // the VM goes away...
        expect(isDied(await old.exec("echo gone").catch((e: unknown) => e))).toBe(true);
        // ...and comes back elsewhere (a restart); Flue's next init of the agent gets a working sandbox.
        routeLobbyToSshd(lobby, { ...server, port: after.port });
        const renewed = await exedev(name, options).createSandbox({ id: "agent" });
        expect(renewed).not.toBe(old);
        expect((await renewed.exec("echo two")).stdout).toBe("two\n");
        expect(await exedev(name, options).createSandbox({ id: "agent" })).toBe(renewed);
        await exedev(name, options).dispose();
        expect(lobby.count("rm")).toBe(removedBefore);
        expect(lobby.vms.has(name)).toBe(true);
      } finally {
        await before.kill();
        await after.kill();
        await server.stop();
      }
    });

    it("creates a VM per agent id and deletes exactly those on dispose()", async () => {
      const server = await startSshd();
      try {
        routeLobbyToSshd(lobby, server);
        const api = createExeDevApi({ baseUrl: lobby.url, token: lobby.token });
        const base = await api.newVm({ name: "base-vm" });
        const newBefore = lobby.count("new");
        const options = { create: { tags: ["agents"] }, api, ...sshOptionsOf(server) };
        // Harnesses initialised together ask for the same id at once: still one VM.
        const [a, again] = await Promise.all([
          exedev(undefined, options).createSandbox({ id: "agent-a" }),
          exedev(undefined, options).createSandbox({ id: "agent-a" }),
        ]);
        expect(again).toBe(a);
        expect(await exedev(undefined, options).createSandbox({ id: "agent-a" })).toBe(a);
        const b = await exedev(undefined, options).createSandbox({ id: "agent-b" });
        expect(b).not.toBe(a);
        expect((await a.exec("echo made")).stdout).toBe("made\n");
        expect(lobby.count("new") - newBefore).toBe(2);
        expect(lobby.vms.size).toBe(3);
        await exedev(undefined, options).dispose();
        expect([...lobby.vms.keys()]).toEqual([base.name]);
        expect(isDied(await a.exec("true").catch((e: unknown) => e))).toBe(true);
      } finally {
        await server.stop();
      }
    });

    it("keeps created VMs with cleanup: false", async () => {
      const server = await startSshd();
      try {
        routeLobbyToSshd(lobby, server);
        const api = createExeDevApi({ baseUrl: lobby.url, token: lobby.token });
        const factory = exedev(undefined, { create: true, cleanup: false, api, ...sshOptionsOf(server) });
        await factory.createSandbox({ id: "keeper" });
        const removed = lobby.count("rm");
        await factory.dispose();
        expect(lobby.count("rm")).toBe(removed);
        expect(lobby.vms.size).toBe(1);
      } finally {
        await server.stop();
      }
    });

    it("deletes created VMs when the process is about to exit (beforeExit)", async () => {
      const server = await startSshd();
      try {
        routeLobbyToSshd(lobby, server);
        const api = createExeDevApi({ baseUrl: lobby.url, token: lobby.token });
        await api.newVm({ name: "golden" });
        const flue = await exedev(undefined, {
          cloneFrom: "golden",
          api,
          ...sshOptionsOf(server),
        }).createSandbox({
          id: "script-agent",
        });
        expect((await flue.exec("echo cloned")).stdout).toBe("cloned\n");
        expect(lobby.vms.size).toBe(2);
        // Node emits beforeExit only once the loop is idle; call exactly our listener, as Node would.
        const listener = process
          .rawListeners("beforeExit")
          .find(
            (candidate) => (candidate as { listener?: { name?: string } }).listener?.name === "onBeforeExit",
          );
        expect(listener).toBeDefined();
        (listener as (code: number) => void)(0);
        await expect.poll(() => lobby.vms.size, { timeout: 5000 }).toBe(1);
        expect([...lobby.vms.keys()]).toEqual(["golden"]);
      } finally {
        await server.stop();
      }
    });
  });
});
