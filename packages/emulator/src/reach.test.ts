// ExeDevSandbox.url(), fetch() and shares against the emulator: a server started in the VM,
// reached through the emulator's proxy with a VM token minted from the sandbox's key.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createExeDevApi,
  createExeDevSandbox,
  type ExeDevSandbox,
  mintVmToken,
  previewUrlTool,
  type SandboxProcess,
} from "@exedev-sandbox/core";
import { expectSandboxError } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { freePortInRange } from "./test-helpers.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-reach-emu-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A GET through the proxy with no client of ours in between (no token unless given). */
function rawGet(url: string, proxyPort: number, headers: Record<string, string> = {}): Promise<number> {
  const { host, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: "127.0.0.1", port: proxyPort, path: pathname, headers: { ...headers, host } },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    outgoing.on("error", reject);
    outgoing.end();
  });
}

describe("ExeDevSandbox url(), fetch() and shares (emulator)", () => {
  let emulator: Emulator;
  let sandbox: ExeDevSandbox;
  let server: SandboxProcess;
  let port: number;
  let privateKey: string;

  beforeAll(async () => {
    emulator = await startEmulator();
    privateKey = readFileSync(join(emulator.dataDir, "emulator_ed25519"), "utf8");
    sandbox = await createExeDevSandbox({
      create: true,
      api: createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() }),
      privateKey,
      hostKey: { sha256: emulator.hostKeyFingerprint },
      knownHostsPath: join(scratch, `kh-${randomBytes(4).toString("hex")}`),
    });
    await sandbox.writeFile(`${sandbox.homeDir}/hello.txt`, "hello from the vm\n");
    port = await freePortInRange();
    server = await sandbox.spawn(`exec python3 -m http.server ${port} --bind 127.0.0.1`, {
      cwd: sandbox.homeDir,
    });
    await sandbox.waitForPort(port, { timeoutMs: 30_000 });
  }, 120_000);
  afterAll(async () => {
    await server?.kill().catch(() => {});
    await sandbox?.dispose();
    await emulator?.stop();
  });

  it("url(): the emulator's form of exe.dev's rules", () => {
    const name = sandbox.vm.name;
    expect(sandbox.url()).toBe(`http://${name}.localhost:${emulator.proxyPort}/`);
    expect(sandbox.url(8000)).toBe(`http://${name}.localhost:${emulator.proxyPort}/`);
    expect(sandbox.url(port)).toBe(`http://${port}.${name}.localhost:${emulator.proxyPort}/`);
    for (const bad of [22, 80, 10000, 0, 1.5]) {
      expect(() => sandbox.url(bad)).toThrow(/port/i);
    }
  });

  it("the preview_url tool: the port's URL, and whether the server answers, probed inside the VM", async () => {
    const up = await previewUrlTool.run(sandbox, { port, path: "/hello.txt" });
    expect(up).toMatchObject({ ok: true, answers: true, status: 200, url: `${sandbox.url(port)}hello.txt` });
    const missing = await previewUrlTool.run(sandbox, { port, path: "/nope.txt" });
    expect(missing).toMatchObject({ ok: true, answers: true, status: 404 });
    const idle = await freePortInRange();
    const down = await previewUrlTool.run(sandbox, { port: idle });
    expect(down).toMatchObject({ ok: true, answers: false });
    expect(down.text).toMatch(/Nothing listens on port/);
    const outside = await previewUrlTool.run(sandbox, { port: 22 });
    expect(outside).toMatchObject({ ok: false, code: "invalid_argument" });
  });

  it("fetch(): 200 with the sandbox's VM token, from a server started in the VM", async () => {
    const response = await sandbox.fetch(port, "/hello.txt");
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("hello from the vm\n");
    const again = await sandbox.fetch(port, "/");
    expect(again.status).toBe(200);
    expect(await again.text()).toContain("hello.txt");
  });

  it("without a token: 401 for an API client, a login redirect for a browser; 401 with another VM's token", async () => {
    const url = `${sandbox.url(port)}hello.txt`;
    expect(await rawGet(url, emulator.proxyPort, { "X-Exedev-Authorization": "Bearer" })).toBe(401);
    expect(await rawGet(url, emulator.proxyPort)).toBe(307);
    const otherVm = mintVmToken("some-other-vm", { privateKey });
    expect(await rawGet(url, emulator.proxyPort, { "X-Exedev-Authorization": `Bearer ${otherVm}` })).toBe(
      401,
    );
    const ours = mintVmToken(sandbox.vm.name, { privateKey });
    expect(await rawGet(url, emulator.proxyPort, { "X-Exedev-Authorization": `Bearer ${ours}` })).toBe(200);
  });

  it("fetch() checks its arguments before any request", async () => {
    await expectSandboxError(sandbox.fetch(22, "/"), "invalid_argument");
    await expectSandboxError(sandbox.fetch(port, "hello.txt"), "invalid_argument");
    await expectSandboxError(sandbox.fetch(port, "/", { tokenTtlMs: -1 }), "invalid_argument");
  });

  it("shares: show, port, public main port (other ports stay private), users and links", async () => {
    const name = sandbox.vm.name;
    const initial = await sandbox.shares.show();
    expect(initial).toEqual({
      vm: name,
      status: "private",
      port: 8000,
      url: `http://${name}.localhost:${emulator.proxyPort}/`,
      users: [],
      links: [],
    });
    await sandbox.shares.setPort(port);
    expect((await sandbox.shares.show()).port).toBe(port);
    expect(sandbox.url(port)).toBe(sandbox.url());
    expect(await rawGet(`${sandbox.url()}hello.txt`, emulator.proxyPort)).toBe(307);

    await sandbox.shares.setPublic();
    expect((await sandbox.shares.show()).status).toBe("public");
    expect(await rawGet(`${sandbox.url()}hello.txt`, emulator.proxyPort)).toBe(200);
    const portUrl = `http://${port}.${name}.localhost:${emulator.proxyPort}/hello.txt`;
    expect(await rawGet(portUrl, emulator.proxyPort, { Authorization: "Bearer nope" })).toBe(401);
    await sandbox.shares.setPrivate();
    expect(await rawGet(`${sandbox.url()}hello.txt`, emulator.proxyPort)).toBe(307);

    await sandbox.shares.addUser("friend@example.com");
    expect((await sandbox.shares.show()).users).toEqual(["friend@example.com"]);
    await sandbox.shares.removeUser("friend@example.com");
    expect((await sandbox.shares.show()).users).toEqual([]);
    const link = await sandbox.shares.addLink();
    expect(link.url).toContain(link.id);
    expect((await sandbox.shares.show()).links).toEqual([link]);
    await sandbox.shares.removeLink(link.id);
    expect((await sandbox.shares.show()).links).toEqual([]);

    await sandbox.shares.setPort(8000);
    expect(sandbox.url(8000)).toBe(sandbox.url());
  });

  it("shares: bad arguments are invalid_argument, before any request", async () => {
    await expectSandboxError(sandbox.shares.addUser("not-an-email"), "invalid_argument");
    await expectSandboxError(sandbox.shares.setPort(70000), "invalid_argument");
    await expectSandboxError(sandbox.shares.removeLink("has space"), "invalid_argument");
  });
});
