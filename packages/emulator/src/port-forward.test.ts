// forwardPort and exposeLocalPort on an ExeDevSandbox against the emulator's SSH gateway
// (direct-tcpip and tcpip-forward, loopback only), through the shared port-forward contract.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createExeDevApi, createExeDevSandbox } from "@exedev-sandbox/core";
import { definePortForwardContract, freePort } from "@exedev-sandbox/testing";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-forward-emu-"));
let emulator: Emulator;
let privateKey: string;

beforeAll(async () => {
  emulator = await startEmulator();
  privateKey = readFileSync(join(emulator.dataDir, "emulator_ed25519"), "utf8");
});
afterAll(async () => {
  await emulator?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const sandboxOptions = () => ({
  api: createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() }),
  privateKey,
  hostKey: { sha256: emulator.hostKeyFingerprint },
  knownHostsPath: join(scratch, `kh-${randomBytes(4).toString("hex")}`),
});

let vm: string | undefined;
definePortForwardContract("emulator", {
  create: async () => {
    if (vm) return createExeDevSandbox({ ...sandboxOptions(), vm });
    const sandbox = await createExeDevSandbox({ ...sandboxOptions(), create: true, cleanup: false });
    vm = sandbox.vm.name;
    return sandbox;
  },
  dropConnections: () => emulator.faults.dropConnections(),
});

describe("emulator forwarding rules", () => {
  it("keeps a local forward working across restart(); a remote forward must be exposed again", async () => {
    const sandbox = await createExeDevSandbox({ ...sandboxOptions(), create: true });
    try {
      const port = await freePort();
      const serve = () =>
        sandbox.spawn(`exec python3 -m http.server ${port} --bind 127.0.0.1`, { cwd: sandbox.homeDir });
      await sandbox.writeFile(`${sandbox.homeDir}/ok.txt`, "ok");
      await serve();
      await sandbox.waitForPort(port, { timeoutMs: 15_000 });
      const forward = await sandbox.forwardPort(port);
      expect(await (await fetch(`${forward.url}ok.txt`)).text()).toBe("ok");
      await sandbox.restart(); // kills the VM's processes, as a real restart does
      await serve();
      await sandbox.waitForPort(port, { timeoutMs: 15_000 });
      expect(await (await fetch(`${forward.url}ok.txt`)).text()).toBe("ok");
      await forward.close();
    } finally {
      await sandbox.dispose();
    }
  });

  it("refuses direct-tcpip to anything but the VM's loopback", async () => {
    const sandbox = await createExeDevSandbox({ ...sandboxOptions(), create: true });
    try {
      const client = new ssh2.Client();
      await new Promise<void>((resolve, reject) => {
        client.once("ready", () => resolve());
        client.once("error", reject);
        client.connect({
          host: sandbox.vm.sshHost,
          port: sandbox.vm.sshPort,
          username: sandbox.vm.sshUser,
          privateKey,
        });
      });
      const outcome = await new Promise<string>((resolve) => {
        client.forwardOut("127.0.0.1", 0, "10.1.2.3", 80, (error) => resolve(error ? "refused" : "opened"));
      });
      client.end();
      expect(outcome).toBe("refused");
    } finally {
      await sandbox.dispose();
    }
  });
});
