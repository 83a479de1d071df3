import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  describeWithSshd,
  expectSandboxError,
  type LobbyServer,
  routeLobbyToSshd,
  type SshdServer,
  startLobbyServer,
  startSshd,
} from "@exedev-sandbox/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createExeDevApi } from "./api/exe-dev-api.js";
import { createExeDevSandbox } from "./exedev-sandbox.js";
import { generateSshKeyPair } from "./ssh/key-pair.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-sandbox-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describeWithSshd("createExeDevSandbox (test lobby over HTTP + OpenSSH)", () => {
  let sshd: SshdServer;
  let lobby: LobbyServer;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.stop();
  });
  afterEach(async () => {
    await lobby?.close();
  });

  /** A lobby whose VMs are all reached through the loopback sshd, as the gateway form does. */
  async function startLobby(): Promise<LobbyServer> {
    lobby = await startLobbyServer({ sshStyle: "gateway" });
    routeLobbyToSshd(lobby, sshd);
    return lobby;
  }
  const ssh = () => ({
    privateKey: sshd.privateKey,
    knownHostsPath: join(scratch, `kh-${randomBytes(4).toString("hex")}`),
  });
  const apiFor = (server: LobbyServer) => createExeDevApi({ baseUrl: server.url, token: server.token });

  it("creates a VM, runs commands on it, and deletes it on dispose (once)", async () => {
    const server = await startLobby();
    const sandbox = await createExeDevSandbox({ create: { tags: ["ci"] }, api: apiFor(server), ...ssh() });
    expect(sandbox.created).toBe(true);
    expect(server.vms.has(sandbox.vm.name)).toBe(true);
    expect((await sandbox.exec("echo on-the-vm")).stdout).toBe("on-the-vm\n");
    await sandbox.dispose();
    await sandbox.dispose();
    expect(server.vms.size).toBe(0);
    expect(server.count("rm")).toBe(1);
    await expectSandboxError(sandbox.exec("true"), "closed");
  });

  it("supports await using", async () => {
    const server = await startLobby();
    {
      await using sandbox = await createExeDevSandbox({ create: true, api: apiFor(server), ...ssh() });
      expect((await sandbox.exec("echo scoped")).stdout).toBe("scoped\n");
    }
    expect(server.vms.size).toBe(0);
  });

  it("clones a base VM and deletes only the clone", async () => {
    const server = await startLobby();
    const api = apiFor(server);
    const base = await api.newVm({ name: "base-image-vm" });
    const sandbox = await createExeDevSandbox({ cloneFrom: base.name, api, ...ssh() });
    expect(sandbox.vm.name).not.toBe(base.name);
    expect(server.count("cp")).toBe(1);
    await sandbox.dispose();
    expect([...server.vms.keys()]).toEqual([base.name]);
  });

  it("keeps a created VM when cleanup is false", async () => {
    const server = await startLobby();
    const sandbox = await createExeDevSandbox({
      create: true,
      cleanup: false,
      api: apiFor(server),
      ...ssh(),
    });
    await sandbox.dispose();
    expect(server.vms.has(sandbox.vm.name)).toBe(true);
  });

  it("attaches to an existing VM by name or record and never deletes it", async () => {
    const server = await startLobby();
    const api = apiFor(server);
    const existing = await api.newVm({ name: "long-lived-vm" });
    const byName = await createExeDevSandbox({ vm: "long-lived-vm", api, ...ssh() });
    expect(byName.created).toBe(false);
    expect(byName.vm.sshPort).toBe(sshd.port);
    await byName.dispose();
    const byRecord = await createExeDevSandbox({ vm: existing, ...ssh() });
    await byRecord.dispose();
    expect(server.count("rm")).toBe(0);
    expect(server.vms.has("long-lived-vm")).toBe(true);
    await expectSandboxError(createExeDevSandbox({ vm: "no-such-vm-here", api, ...ssh() }), "not_found");
  });

  it("attaches to an ssh_dest without any API", async () => {
    const sandbox = await createExeDevSandbox({
      vm: `${sshd.username}@${sshd.host}`,
      port: sshd.port,
      ...ssh(),
    });
    expect(sandbox.vm.sshHost).toBe(sshd.host);
    expect((await sandbox.exec("echo direct")).stdout).toBe("direct\n");
    await sandbox.dispose();
  });

  it("deletes a VM it created when it cannot connect to it", async () => {
    const server = await startLobby();
    const wrongKey = generateSshKeyPair().privateKey;
    await expectSandboxError(
      createExeDevSandbox({
        create: true,
        api: apiFor(server),
        privateKey: wrongKey,
        knownHostsPath: ssh().knownHostsPath,
      }),
      "auth_failed",
    );
    expect(server.count("new")).toBe(1);
    expect(server.vms.size).toBe(0);
  });

  it("rejects bad options before any request", async () => {
    const server = await startLobby();
    const api = apiFor(server);
    await expectSandboxError(createExeDevSandbox({ vm: "a-vm-name", create: true, api }), "invalid_argument");
    await expectSandboxError(createExeDevSandbox({ cloneFrom: "Bad_Name", api }), "invalid_argument");
    await expectSandboxError(createExeDevSandbox({ vm: "has space", api }), "invalid_argument");
    const previous = process.env.EXE_VM_HOST;
    delete process.env.EXE_VM_HOST;
    try {
      await expectSandboxError(createExeDevSandbox({ api }), "invalid_argument");
    } finally {
      if (previous !== undefined) process.env.EXE_VM_HOST = previous;
    }
    expect(server.requests.length).toBe(0);
  });

  it("dispose() succeeds when the VM was already deleted elsewhere, and deletes only once", async () => {
    const server = await startLobby();
    const api = apiFor(server);
    const sandbox = await createExeDevSandbox({ create: true, api, ...ssh() });
    expect((await api.removeVm(sandbox.vm.name)).deleted).toEqual([sandbox.vm.name]);
    await sandbox.dispose();
    await sandbox.dispose();
    await sandbox.close();
    expect(server.count("rm")).toBe(2); // ours above, then dispose's one
    await expectSandboxError(sandbox.exec("true"), "closed");
  });

  it("dispose() after a failed delete tries again on the next call", async () => {
    const server = await startLobby();
    const sandbox = await createExeDevSandbox({ create: true, api: apiFor(server), ...ssh() });
    const route = server.intercept;
    let refused = 0;
    server.intercept = (request) => {
      if (request.words[0] === "rm" && refused++ === 0)
        return { status: 403, body: { error: "not allowed" } };
      return route?.(request);
    };
    await expectSandboxError(sandbox.dispose(), "permission_denied");
    expect(server.vms.has(sandbox.vm.name)).toBe(true);
    await sandbox.dispose();
    expect(server.vms.has(sandbox.vm.name)).toBe(false);
    expect(server.count("rm")).toBe(2);
  });

  it("dials the given port and username instead of the VM record's", async () => {
    lobby = await startLobbyServer({ sshStyle: "gateway" });
    const server = lobby;
    // A record that points nowhere usable: port 1 refuses, and no such user exists.
    server.intercept = (request) => {
      if (request.words[0] !== "new") return undefined;
      const reply = server.execute(request.words);
      const body = reply.body as Record<string, unknown>;
      return { ...reply, body: { ...body, ssh_host: sshd.host, ssh_port: 1, ssh_user: "no-such-user-here" } };
    };
    const sandbox = await createExeDevSandbox({
      create: true,
      api: apiFor(server),
      port: sshd.port,
      username: sshd.username,
      connectRetryMs: 5_000,
      ...ssh(),
    });
    expect(sandbox.vm).toMatchObject({ sshPort: 1, sshUser: "no-such-user-here" });
    expect((await sandbox.exec("whoami")).stdout.trim()).toBe(sshd.username);
    await sandbox.dispose();
    expect(server.vms.size).toBe(0);
  });
});

describe("createExeDevSandbox validates every option before its first request", () => {
  let lobby: LobbyServer;
  beforeAll(async () => {
    lobby = await startLobbyServer({ sshStyle: "gateway" });
  });
  afterAll(() => lobby.close());
  beforeEach(() => {
    lobby.requests.length = 0;
  });
  const api = () => createExeDevApi({ baseUrl: lobby.url, token: lobby.token });
  const modes = () => [
    { create: true, api: api() },
    { cloneFrom: "base-image-vm", api: api() },
    { vm: "some-vm-name", api: api() },
  ];

  // Each of these used to reach the API first: `new` then `rm`, or `new` and a hang (port).
  const badSsh: Array<[string, Record<string, unknown>]> = [
    ["hostKey", { hostKey: "yes" }],
    ["hostKey.sha256", { hostKey: { sha256: "SHA256:short" } }],
    ["privateKey type", { privateKey: 42 }],
    ["privateKey text", { privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n" }],
    ["privateKeyPath missing", { privateKeyPath: join(scratch, "no-such-key") }],
    ["privateKeyPath empty", { privateKeyPath: "" }],
    ["passphrase", { passphrase: 5 }],
    ["agent", { agent: "" }],
    ["knownHostsPath", { knownHostsPath: "" }],
    ["maxChannels 1", { maxChannels: 1 }],
    ["maxChannels 2.5", { maxChannels: 2.5 }],
    ["maxChannels string", { maxChannels: "10" }],
    ["readyTimeoutMs NaN", { readyTimeoutMs: Number.NaN }],
    ["readyTimeoutMs 2^31", { readyTimeoutMs: 2 ** 31 }],
    ["sftpTimeoutMs Infinity", { sftpTimeoutMs: Number.POSITIVE_INFINITY }],
    ["keepaliveIntervalMs negative", { keepaliveIntervalMs: -1 }],
    ["connectRetryMs string", { connectRetryMs: "90000" }],
    ["port 0", { port: 0 }],
    ["port 65536", { port: 65_536 }],
    ["port string", { port: "22" }],
    ["port fraction", { port: 22.5 }],
    ["username empty", { username: "" }],
    ["username with space", { username: "a b" }],
    ["username number", { username: 5 }],
    ["host", { host: "../x" }],
  ];
  it.each(badSsh)("a bad SSH option (%s), in every mode", async (_label, bad) => {
    for (const mode of modes()) {
      await expectSandboxError(createExeDevSandbox({ ...mode, ...bad } as never), "invalid_argument");
    }
    expect(lobby.requests).toHaveLength(0);
  });

  const badLifecycle: Array<[string, unknown]> = [
    ["vm ../x", { vm: "../x" }],
    ["vm number", { vm: 12_345 }],
    ["vm array", { vm: [] }],
    ["vm record without host", { vm: { name: "x" } }],
    ["vm record with a path for host", { vm: { name: "x", sshHost: "../x", sshPort: 22, tags: [] } }],
    ["vm record with a bad port", { vm: { name: "x", sshHost: "127.0.0.1", sshPort: 0, tags: [] } }],
    ["vm user@", { vm: "user@" }],
    ["vm @host", { vm: "@host.example" }],
    ["vm user@path", { vm: "user@../x" }],
    ["vm with NUL", { vm: "my-vm\0x" }],
    ["vm URL", { vm: "https://my-vm.exe.xyz" }],
    ["vm host:port", { vm: "my-vm.exe.xyz:22" }],
    ["vm empty labels", { vm: "my-vm..exe.xyz" }],
    ["create string", { create: "yes" }],
    ["create null", { create: null }],
    ["create with bad cpu", { create: { cpu: 0 } }],
    ["create with a bad name", { create: { name: "Bad_Name" } }],
    ["create with a multi-line env value", { create: { env: { A: "x\ny" } } }],
    ["cloneFrom number", { cloneFrom: 5 }],
    ["clone without cloneFrom", { clone: { cpu: 2 } }],
    ["clone with bad memory", { cloneFrom: "base-image-vm", clone: { memory: "lots" } }],
    ["cleanup string", { create: true, cleanup: "no" }],
    ["api number", { create: true, api: 5 }],
    ["api without methods", { create: true, api: {} }],
    ["two modes", { create: true, vm: "some-vm-name" }],
    ["options null", null],
    ["options string", "create"],
  ];
  it.each(badLifecycle)("a bad VM option (%s)", async (_label, bad) => {
    const withApi = typeof bad === "object" && bad !== null && !("api" in bad) ? { api: api(), ...bad } : bad;
    const started = Date.now();
    await expectSandboxError(createExeDevSandbox(withApi as never), "invalid_argument");
    // No DNS lookup or connect attempt either: the answer is immediate.
    expect(Date.now() - started).toBeLessThan(1000);
    expect(lobby.requests).toHaveLength(0);
  });
});

describeWithSshd("createExeDevSandbox readiness probe", () => {
  it("does not take the lobby answering for the VM, and deletes the VM it made", async () => {
    // Every command on this server prints a banner instead of running, as the lobby would.
    const sshd = await startSshd({ extraConfig: ["ForceCommand echo 'exe.dev repl: command not found'"] });
    const lobby = await startLobbyServer({ sshStyle: "gateway" });
    try {
      lobby.intercept = (request) => {
        if (request.words[0] !== "new") return undefined;
        const reply = lobby.execute(request.words);
        return {
          ...reply,
          body: {
            ...(reply.body as object),
            ssh_host: sshd.host,
            ssh_port: sshd.port,
            ssh_user: sshd.username,
          },
        };
      };
      const started = Date.now();
      await expectSandboxError(
        createExeDevSandbox({
          create: true,
          api: createExeDevApi({ baseUrl: lobby.url, token: lobby.token }),
          privateKey: sshd.privateKey,
          knownHostsPath: join(scratch, "probe-kh"),
          connectRetryMs: 1500,
        }),
        "connection_failed",
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400); // it kept trying until the deadline
      expect(lobby.vms.size).toBe(0);
    } finally {
      await lobby.close();
      await sshd.stop();
    }
  });
});

describe("createExeDevSandbox without sshd", () => {
  it("builds <name>.exe.xyz only when there is no API to ask", async () => {
    const saved = { token: process.env.EXE_API_TOKEN, key: process.env.EXE_API_KEY };
    delete process.env.EXE_API_TOKEN;
    delete process.env.EXE_API_KEY;
    try {
      // Port 1 on loopback is closed: the attempt fails fast, after resolving the target.
      const error = await createExeDevSandbox({ vm: "some-vm-name", port: 1, readyTimeoutMs: 200 }).catch(
        (e) => e,
      );
      expect(error.code).toBe("connection_failed");
      expect(error.message).toContain("some-vm-name.exe.xyz");
    } finally {
      if (saved.token !== undefined) process.env.EXE_API_TOKEN = saved.token;
      if (saved.key !== undefined) process.env.EXE_API_KEY = saved.key;
    }
  });
});
