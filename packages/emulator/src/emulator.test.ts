import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createExeDevApi, createExeDevSandbox, generateSshKeyPair } from "@exedev-sandbox/core";
import { afterAll, describe, expect, it } from "vitest";
import { startEmulator } from "./index.js";
import { post, sleep } from "./test-helpers.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-emulator-handle-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("startEmulator", () => {
  it("registers keys, refusing anything but a public key line", async () => {
    const emulator = await startEmulator();
    try {
      const pair = generateSshKeyPair("comment here");
      emulator.registerKey(`  ${pair.publicKey}\n`, "first-name");
      emulator.registerKey(pair.publicKey, "second-name");
      for (const bad of [pair.privateKey, "", "ssh-ed25519", "ssh-ed25519 not-base64!", "hello world"]) {
        expect(() => emulator.registerKey(bad), bad.slice(0, 20)).toThrow(
          expect.objectContaining({ code: "invalid_argument" }),
        );
      }
      const keys = (await post(emulator, "ssh-key list", { token: emulator.createToken() })).lines[0]
        ?.ssh_keys as Array<{
        name: string;
      }>;
      expect(keys.map((key) => key.name)).toEqual(["emulator", "first-name"]);
    } finally {
      await emulator.stop();
    }
  });

  it("mints tokens for every command by default, exe.dev's defaults with cmds: undefined, and honours exp", async () => {
    const emulator = await startEmulator();
    try {
      expect((await post(emulator, "rm nothing-here", { token: emulator.createToken() })).status).toBe(200);
      expect(
        (await post(emulator, "rm nothing-here", { token: emulator.createToken({ cmds: undefined }) }))
          .status,
      ).toBe(403);
      expect((await post(emulator, "ls", { token: emulator.createToken({ cmds: undefined }) })).status).toBe(
        200,
      );
      const expired = emulator.createToken({ exp: Math.floor(Date.now() / 1000) - 10 });
      expect((await post(emulator, "ls", { token: expired })).status).toBe(401);
      expect(readFileSync(join(emulator.dataDir, "emulator_ed25519"), "utf8")).toContain(
        "OPENSSH PRIVATE KEY",
      );
    } finally {
      await emulator.stop();
    }
  });

  it("takes faults at start and checks fault values", async () => {
    const emulator = await startEmulator({ faults: { failNextApiCalls: { count: 1, status: 500 } } });
    try {
      const token = emulator.createToken();
      expect((await post(emulator, "ls", { token })).status).toBe(500);
      expect((await post(emulator, "ls", { token })).status).toBe(200);
      expect(() => emulator.faults.setSftpIdleCloseMs(0)).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
      expect(() => emulator.faults.setMaxSessionsPerConnection(1.5)).toThrow();
      expect(() => emulator.faults.setCommandDeadlineMs(0)).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
      expect(() => emulator.faults.failNextApiCalls(1, 42)).toThrow();
      expect(() => emulator.faults.failNextApiCalls(-1, 500)).toThrow();
      emulator.faults.failNextApiCalls(0, 500);
      expect((await post(emulator, "ls", { token })).status).toBe(200);
    } finally {
      await emulator.stop();
    }
    await expect(startEmulator({ faults: { sftpIdleCloseMs: -5 } })).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });

  it("fails to start on a port in use, leaving nothing listening", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startEmulator({ httpPort: port, dataDir: join(scratch, "busy") })).rejects.toMatchObject({
        code: "EADDRINUSE",
      });
      await expect(startEmulator({ sshPort: port, dataDir: join(scratch, "busy") })).rejects.toMatchObject({
        code: "EADDRINUSE",
      });
    } finally {
      blocker.close();
    }
  });

  it("stop() kills every VM process and removes a temporary data directory", async () => {
    const emulator = await startEmulator();
    const token = emulator.createToken();
    const script = "echo $$ > pid; exec sleep 300";
    expect((await post(emulator, `new --name=stop-check --setup-script='${script}'`, { token })).status).toBe(
      200,
    );
    const pidFile = join(emulator.dataDir, "vms", "stop-check", "pid");
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await sleep(30);
    await sleep(100);
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(() => process.kill(pid, 0)).not.toThrow();
    await emulator.stop();
    await sleep(100);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(emulator.dataDir)).toBe(false);
  });

  it("leaves no socket open once stopped, even after removing a VM with live connections", async () => {
    const sockets = () => process.getActiveResourcesInfo().filter((kind) => kind === "TCPSocketWrap").length;
    const before = sockets();
    const emulator = await startEmulator();
    const key = generateSshKeyPair();
    emulator.registerKey(key.publicKey);
    const api = createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() });
    const sandbox = await createExeDevSandbox({
      create: true,
      api,
      privateKey: key.privateKey,
      knownHostsPath: join(scratch, "known_hosts"),
    });
    await sandbox.writeFile(`${sandbox.homeDir}/x`, "x");
    await sandbox.dispose(); // closes the connection, then removes the VM (which cuts its connections)
    const other = await createExeDevSandbox({
      create: true,
      api,
      privateKey: key.privateKey,
      knownHostsPath: join(scratch, "known_hosts"),
    });
    emulator.faults.dropConnections();
    await other.close();
    await emulator.stop();
    for (let i = 0; i < 40 && sockets() > before; i++) await sleep(50);
    expect(sockets()).toBe(before);
  });
});
