// createExeDevSandbox against the emulator, with the VM's SSH made slow to come up: a TCP hop on
// a fixed port that can be down (connections refused), and an HTTP hop in front of the API that
// points the VMs' ssh_port at it. That is what a fresh or restarting exe.dev VM looks like: the
// API has answered, sshd is not listening yet.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { createExeDevApi, createExeDevSandbox, isSandboxError } from "@exedev-sandbox/core";
import { expectSandboxError, splitLobbyWords } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { run, sleep } from "./test-helpers.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-sandbox-emu-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const knownHosts = () => join(scratch, `known_hosts-${randomBytes(4).toString("hex")}`);

/** A TCP hop on one fixed port that can be taken down (refusing connections) and brought back. */
interface Hop {
  port: number;
  readonly isUp: boolean;
  up(): Promise<void>;
  /** Stops listening and drops every connection, as a VM going down does. */
  down(): Promise<void>;
  /** How many connections were ever accepted. */
  readonly accepted: number;
}

async function startHop(target: { host: string; port: number }): Promise<Hop> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  let isUp = true;
  return {
    port,
    get isUp() {
      return isUp;
    },
    get accepted() {
      return accepted;
    },
    up: async () => {
      if (isUp) return;
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
      isUp = true;
    },
    down: async () => {
      if (!isUp) return;
      isUp = false;
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** The emulator's API behind an HTTP hop that sends VMs' SSH to `hop` and counts commands. */
interface ApiHop {
  url: string;
  /** First word of every command received, in order. */
  commands: string[];
  /** Runs after the emulator answered a command, before the answer is passed on. */
  after: ((command: string) => Promise<void> | void) | undefined;
  close(): Promise<void>;
}

async function startApiHop(emulator: Emulator, hop: Hop): Promise<ApiHop> {
  const apiHop: ApiHop = { url: "", commands: [], after: undefined, close: async () => {} };
  const server: Server = createHttpServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const command = splitLobbyWords(body)[0] ?? "";
    apiHop.commands.push(command);
    const answer = await fetch(`${emulator.apiUrl}${request.url}`, {
      method: request.method,
      headers: { authorization: request.headers.authorization ?? "", "content-type": "text/plain" },
      body,
    });
    const text = (await answer.text())
      .replaceAll(`"ssh_port":${emulator.sshPort}`, `"ssh_port":${hop.port}`)
      .replaceAll(`-p ${emulator.sshPort} `, `-p ${hop.port} `);
    await apiHop.after?.(command);
    response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/plain" });
    response.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  apiHop.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  apiHop.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return apiHop;
}

let emulator: Emulator;
let hop: Hop;
let apiHop: ApiHop;
const key = join(scratch, "id_ed25519");
const passphrase = `pass-${randomBytes(12).toString("hex")}`;
let privateKey: string;
let token: string;

beforeAll(async () => {
  emulator = await startEmulator();
  // An encrypted key, so that the passphrase is one of the secrets that must not show.
  const made = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", "emu", "-f", key]);
  expect(made.code).toBe(0);
  privateKey = readFileSync(key, "utf8");
  emulator.registerKey(readFileSync(`${key}.pub`, "utf8").trim(), "exedev-sandbox-test");
  token = emulator.createToken();
  hop = await startHop({ host: emulator.sshHost, port: emulator.sshPort });
  apiHop = await startApiHop(emulator, hop);
});
afterAll(async () => {
  await apiHop?.close();
  await hop?.down();
  await emulator?.stop();
});
beforeEach(async () => {
  apiHop.after = undefined;
  apiHop.commands.length = 0;
  await hop.up();
});

const api = () => createExeDevApi({ baseUrl: apiHop.url, token });
const sshOptions = () => ({ privateKey, passphrase, knownHostsPath: knownHosts() });
const vmNames = async () =>
  (await createExeDevApi({ baseUrl: emulator.apiUrl, token }).listVms()).map((vm) => vm.name);

describe("ExeDevSandbox.restart() (emulator, SSH down for a while after the restart)", () => {
  it("restarts the VM, waits until it answers again, and keeps working; calls made meanwhile wait", async () => {
    const sandbox = await createExeDevSandbox({ create: true, api: api(), ...sshOptions() });
    try {
      const file = `${sandbox.homeDir}/kept.txt`;
      await sandbox.writeFile(file, "written before the restart");
      const marker = `restart-marker-${randomBytes(4).toString("hex")}`;
      const before = sandbox.exec(`sleep 300 # ${marker}`);
      before.catch(() => {});
      await sleep(300);
      const downMs = 3000;
      apiHop.after = async (command) => {
        if (command !== "restart") return;
        await hop.down();
        setTimeout(() => void hop.up(), downMs);
      };
      const started = Date.now();
      const restarting = sandbox.restart();
      await sleep(100);
      // Made while the VM is down: waits for the restart instead of failing.
      const during = sandbox.exec("echo during");
      await restarting;
      const tookMs = Date.now() - started;
      expect(tookMs).toBeGreaterThanOrEqual(downMs - 100);
      expect(tookMs).toBeLessThan(downMs + 10_000);
      expect(apiHop.commands.filter((command) => command === "restart")).toHaveLength(1);
      expect((await during).stdout).toBe("during\n");
      // The command running before the restart died with the VM's processes.
      await before.then(
        (result) => expect(result.exitCode).not.toBe(0),
        (error) => expect(isSandboxError(error)).toBe(true),
      );
      // The bracket keeps pgrep's own shell from matching the pattern.
      const left = await sandbox.exec(`pgrep -f '${marker.slice(0, -1)}[${marker.slice(-1)}]' || true`);
      expect(left.stdout.trim().split("\n").filter(Boolean)).toHaveLength(0);
      expect(await sandbox.readFile(file)).toBe("written before the restart");
      expect((await sandbox.exec("echo after")).stdout).toBe("after\n");
      // And a second restart works the same way, on the new connection.
      apiHop.after = undefined;
      await sandbox.restart();
      expect((await sandbox.exec("echo again")).stdout).toBe("again\n");
    } finally {
      await sandbox.dispose();
    }
    expect(await vmNames()).toEqual([]);
  });

  it("fails with sandbox_died when the VM does not come back within timeoutMs, and recovers on the next restart", async () => {
    const sandbox = await createExeDevSandbox({ create: true, api: api(), ...sshOptions() });
    try {
      apiHop.after = async (command) => {
        if (command === "restart") await hop.down();
      };
      const started = Date.now();
      await expectSandboxError(sandbox.restart({ timeoutMs: 1500 }), "sandbox_died");
      const tookMs = Date.now() - started;
      expect(tookMs).toBeGreaterThanOrEqual(1400);
      expect(tookMs).toBeLessThan(1500 + 5000);
      await expectSandboxError(sandbox.exec("true"), "sandbox_died");
      apiHop.after = undefined;
      await hop.up();
      await sandbox.restart();
      expect((await sandbox.exec("echo back")).stdout).toBe("back\n");
    } finally {
      await sandbox.dispose();
    }
  });

  it("leaves the sandbox as it was when the API refuses the restart, and checks its options first", async () => {
    const sandbox = await createExeDevSandbox({ create: true, api: api(), ...sshOptions() });
    try {
      for (const bad of [{ timeoutMs: -1 }, { timeoutMs: 2 ** 31 }, { timeoutMs: Number.NaN }, null]) {
        await expectSandboxError(sandbox.restart(bad as never), "invalid_argument");
      }
      expect(apiHop.commands.filter((command) => command === "restart")).toHaveLength(0);
      const limited = createExeDevApi({ baseUrl: apiHop.url, token: emulator.createToken({ cmds: ["ls"] }) });
      const attached = await createExeDevSandbox({ vm: sandbox.vm.name, api: limited, ...sshOptions() });
      try {
        await expectSandboxError(attached.restart(), "permission_denied");
        expect((await attached.exec("echo still")).stdout).toBe("still\n");
      } finally {
        await attached.dispose();
      }
    } finally {
      await sandbox.dispose();
    }
  });
});

describe("what an ExeDevSandbox shows when logged", () => {
  it("never the token, the private key or the passphrase (util.inspect at any depth, JSON)", async () => {
    const exeApi = api();
    const sandbox = await createExeDevSandbox({ create: true, api: exeApi, ...sshOptions() });
    try {
      const keyLines = privateKey.split("\n").filter((line) => line.length > 20 && !line.startsWith("-----"));
      expect(keyLines.length).toBeGreaterThan(0);
      const secrets = [token, token.slice(0, 24), passphrase, ...keyLines];
      for (const value of [sandbox, exeApi]) {
        const shown = [
          inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
          inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true, customInspect: false }),
          inspect(value),
          JSON.stringify(value) ?? "",
        ].join("\n");
        for (const secret of secrets) expect(shown).not.toContain(secret);
      }
      // What it does show is the VM, for a useful log line.
      expect(inspect(sandbox)).toContain(sandbox.vm.name);
      // After a restart, too (the new connection is as well hidden).
      await sandbox.restart();
      const afterRestart = inspect(sandbox, {
        depth: Number.POSITIVE_INFINITY,
        showHidden: true,
        customInspect: false,
      });
      for (const secret of secrets) expect(afterRestart).not.toContain(secret);
    } finally {
      await sandbox.dispose();
    }
  });
});

describe("a plain script awaiting createExeDevSandbox({ create: true }) while the VM's SSH is still starting", () => {
  const core = fileURLToPath(new URL("../../core/dist/index.js", import.meta.url));
  const script = `
    import { createExeDevApi, createExeDevSandbox } from ${JSON.stringify(core)};
    const options = JSON.parse(process.env.SANDBOX_OPTIONS);
    try {
      const sandbox = await createExeDevSandbox({ ...options, create: true, api: createExeDevApi(options.apiOptions) });
      const { stdout } = await sandbox.exec("echo ready-from-child");
      console.log(JSON.stringify({ ok: true, stdout, vm: sandbox.vm.name }));
      await sandbox.dispose();
    } catch (error) {
      console.log(JSON.stringify({ ok: false, code: error.code }));
      process.exitCode = 1;
    }
  `;

  function runScript(
    options: Record<string, unknown>,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ["--input-type=module", "-e", script],
        {
          timeout: 60_000,
          env: { ...process.env, SANDBOX_OPTIONS: JSON.stringify(options) },
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        },
      );
    });
  }

  const childOptions = (extra: Record<string, unknown> = {}) => ({
    apiOptions: { baseUrl: apiHop.url, token },
    privateKey,
    passphrase,
    knownHostsPath: knownHosts(),
    ...extra,
  });

  it("waits for SSH to come up (does not exit with code 13) and gets a working sandbox", async () => {
    await hop.down();
    apiHop.after = (command) => {
      if (command === "new") setTimeout(() => void hop.up(), 3000);
    };
    const result = await runScript(childOptions());
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const answer = JSON.parse(result.stdout.trim());
    expect(answer).toMatchObject({ ok: true, stdout: "ready-from-child\n" });
    expect(hop.accepted).toBeGreaterThan(0);
    expect(apiHop.commands).toEqual(expect.arrayContaining(["new", "rm"]));
    expect(await vmNames()).toEqual([]);
  });

  it("when SSH never comes up: rejects with connection_failed (exit 1, not 13) and deletes the VM it created", async () => {
    await hop.down();
    const result = await runScript(childOptions({ connectRetryMs: 3000 }));
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout.trim())).toEqual({ ok: false, code: "connection_failed" });
    expect(apiHop.commands.filter((command) => command === "new")).toHaveLength(1);
    expect(apiHop.commands.filter((command) => command === "rm")).toHaveLength(1);
    expect(await vmNames()).toEqual([]);
  });
});
