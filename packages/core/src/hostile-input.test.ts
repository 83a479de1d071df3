// Hostile input at every public entry point of core: each call must fail with invalid_argument
// before any I/O. "No I/O" is measured on real servers: an HTTP server that counts requests, a
// TCP listener that counts connection attempts, and, for a live sandbox, a hop that counts every
// byte the client sends (keepalives off), so that not even an SFTP or channel open goes out.
// (Unpaired surrogates in paths and command sizes are covered by their own tests.)
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import {
  describeWithSshd,
  expectSandboxError,
  type LobbyServer,
  type SshdServer,
  startLobbyServer,
  startSshd,
} from "@exedev-sandbox/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  connectSandbox,
  createExeDevApi,
  createExeDevSandbox,
  generateVmName,
  inspectToken,
  mintToken,
  type SshSandbox,
  shellQuote,
  toolSpecs,
  validateVmName,
  verifyToken,
} from "./index.js";
import { generateSshKeyPair } from "./ssh/key-pair.js";

const NOT_STRINGS: unknown[] = [undefined, null, 42, Number.NaN, true, {}, [], () => "x", Symbol("s"), 10n];
const BAD_NUMBERS: unknown[] = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -1,
  2 ** 31,
  Number.MAX_SAFE_INTEGER,
  1e308,
  "100",
  {},
  null,
  true,
];
const BAD_STRINGS: unknown[] = ["", "nul\0byte", ...NOT_STRINGS.filter((value) => value !== undefined)];

/** Awaits `call()` (sync throws included) and asserts invalid_argument. */
async function expectInvalid(call: () => unknown, label: string): Promise<void> {
  let outcome: unknown;
  try {
    outcome = await call();
  } catch (error) {
    outcome = error;
  }
  expect((outcome as { code?: unknown })?.code, label).toBe("invalid_argument");
}

function show(value: unknown): string {
  if (typeof value === "symbol" || typeof value === "bigint" || typeof value === "function")
    return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A TCP listener that counts connection attempts and drops them. */
async function startCountingListener(): Promise<{
  port: number;
  attempts: () => number;
  close: () => Promise<void>;
}> {
  let attempts = 0;
  const server: Server = createServer((socket) => {
    attempts++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    attempts: () => attempts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A TCP hop to `target` that counts the bytes the client sends. */
async function startByteCounter(target: { host: string; port: number }) {
  let sent = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk: Buffer) => {
      sent += chunk.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sent: () => sent,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("connectSandbox", () => {
  let listener: Awaited<ReturnType<typeof startCountingListener>>;
  beforeAll(async () => {
    listener = await startCountingListener();
  });
  afterAll(() => listener.close());

  it("refuses every malformed option without a connection attempt", async () => {
    const base = { host: "127.0.0.1", port: listener.port, privateKey: generateSshKeyPair().privateKey };
    const cases: Array<[string, unknown]> = [
      ...[undefined, null, 42, "host", []].map((options) => ["options", options] as [string, unknown]),
      ...BAD_STRINGS.map((host) => ["host", { ...base, host }] as [string, unknown]),
      ["host with space", { ...base, host: "a b" }],
      ...[0, -1, 65_536, 22.5, Number.NaN, "22", null].map(
        (port) => ["port", { ...base, port }] as [string, unknown],
      ),
      ...BAD_STRINGS.map((username) => ["username", { ...base, username }] as [string, unknown]),
      ...[42, {}, "garbage", "", true].map(
        (privateKey) => ["privateKey", { ...base, privateKey }] as [string, unknown],
      ),
      ...[42, ""].map(
        (privateKeyPath) => ["privateKeyPath", { ...base, privateKeyPath }] as [string, unknown],
      ),
      ...[42, {}].map((passphrase) => ["passphrase", { ...base, passphrase }] as [string, unknown]),
      ...[42, "", {}].map((agent) => ["agent", { ...base, agent }] as [string, unknown]),
      ...["yes", 42, {}, { sha256: "SHA256:x" }, { sha256: 5 }, null].map(
        (hostKey) => ["hostKey", { ...base, hostKey }] as [string, unknown],
      ),
      ...[42, ""].map(
        (knownHostsPath) => ["knownHostsPath", { ...base, knownHostsPath }] as [string, unknown],
      ),
      ...[0, 1, 2.5, -3, Number.NaN, Number.POSITIVE_INFINITY, "10"].map(
        (maxChannels) => ["maxChannels", { ...base, maxChannels }] as [string, unknown],
      ),
      ...["readyTimeoutMs", "sftpTimeoutMs", "keepaliveIntervalMs", "connectRetryMs"].flatMap((name) =>
        BAD_NUMBERS.filter((value) => value !== null).map(
          (value) => [name, { ...base, [name]: value }] as [string, unknown],
        ),
      ),
    ];
    for (const [label, options] of cases) {
      await expectInvalid(() => connectSandbox(options as never), `${label}: ${show(options)}`);
    }
    expect(listener.attempts()).toBe(0);
  });
});

describe("createExeDevApi and its methods", () => {
  let lobby: LobbyServer;
  beforeAll(async () => {
    lobby = await startLobbyServer();
  });
  afterAll(() => lobby.close());
  beforeEach(() => {
    lobby.requests.length = 0;
  });

  it("refuses malformed client options at construction", async () => {
    const cases: unknown[] = [
      null,
      42,
      "options",
      { token: 42 },
      { token: {} },
      { fetch: "fetch" },
      { baseUrl: "not a url" },
      { baseUrl: "ftp://exe.dev" },
      { baseUrl: 42 },
      { baseUrl: "" },
      ...BAD_NUMBERS.map((timeoutMs) => ({ timeoutMs })),
      { timeoutMs: 0 },
      ...[-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "3"].map((maxRetries) => ({ maxRetries })),
    ];
    for (const options of cases) {
      await expectInvalid(() => createExeDevApi(options as never), show(options));
    }
    expect(lobby.requests).toHaveLength(0);
  });

  it("refuses malformed method arguments without a request", async () => {
    const api = createExeDevApi({ baseUrl: lobby.url, token: lobby.token, maxRetries: 0 });
    const names = [...BAD_STRINGS, "../x", "Bad_Name", "a", "x".repeat(100), "web-p8080", "my vm"];
    const calls: Array<[string, () => unknown]> = [
      ...names.map(
        (name) => [`getVm ${show(name)}`, () => api.getVm(name as string)] as [string, () => unknown],
      ),
      ...names.map(
        (name) => [`restartVm ${show(name)}`, () => api.restartVm(name as string)] as [string, () => unknown],
      ),
      ...names.map(
        (name) => [`removeVm ${show(name)}`, () => api.removeVm(name as string)] as [string, () => unknown],
      ),
      ["removeVm none", () => api.removeVm()],
      ...names.map(
        (name) => [`cloneVm ${show(name)}`, () => api.cloneVm(name as string)] as [string, () => unknown],
      ),
      ...["", "-la", "a b", "nul\0", 42, {}].map(
        (pattern) =>
          [`listVms ${show(pattern)}`, () => api.listVms(pattern as string)] as [string, () => unknown],
      ),
      ...[null, 42, "options", []].map(
        (options) => [`newVm ${show(options)}`, () => api.newVm(options as never)] as [string, () => unknown],
      ),
      ...[
        { name: "Bad" },
        { cpu: 0 },
        { cpu: Number.NaN },
        { cpu: 1.5 },
        { memory: -1 },
        { memory: "lots" },
        { memory: Number.POSITIVE_INFINITY },
        { disk: {} },
        { env: { "BAD NAME": "x" } },
        { env: { A: 42 } },
        { env: { A: "nul\0" } },
        { env: "A=1" },
        { tags: "ci" },
        { tags: ["Bad Tag"] },
        { tags: [42] },
        { integrations: [""] },
        { comment: "x".repeat(201) },
        { comment: "line\nbreak" },
        { setupScript: "" },
        { setupScript: 42 },
        { setupScript: "nul\0" },
        { setupScript: "x".repeat(20_000) },
        { prompt: "two\nlines" },
        { image: "has space" },
        { command: "" },
        { noEmail: "yes" },
      ].map(
        (options) => [`newVm ${show(options)}`, () => api.newVm(options as never)] as [string, () => unknown],
      ),
      ...[{ cpu: -1 }, { copyTags: "no" }, { name: "../x" }, 42].map(
        (options) =>
          [`cloneVm options ${show(options)}`, () => api.cloneVm("base-vm", options as never)] as [
            string,
            () => unknown,
          ],
      ),
      ...[null, "ls", 42, {}].map(
        (args) => [`run ${show(args)}`, () => api.run(args as never)] as [string, () => unknown],
      ),
      ...[[], [""], ["ls", ""], ["ls", 42], ["nul\0"], ["two\nlines"], ["x".repeat(70_000)]].map(
        (args) => [`run ${show(args).slice(0, 40)}`, () => api.run(args as never)] as [string, () => unknown],
      ),
      ...[{ "Bad Flag": "x" }, { cpu: Number.NaN }, { env: {} }, { name: "two\nlines" }].map(
        (flags) =>
          [`run flags ${show(flags)}`, () => api.run(["ls"], flags as never)] as [string, () => unknown],
      ),
    ];
    for (const [label, call] of calls) await expectInvalid(call, label);
    expect(lobby.requests).toHaveLength(0);
  });
});

describe("createExeDevSandbox", () => {
  let lobby: LobbyServer;
  beforeAll(async () => {
    lobby = await startLobbyServer();
  });
  afterAll(() => lobby.close());

  it("refuses malformed options in every mode without a request (more cases in exedev-sandbox.test.ts)", async () => {
    const api = createExeDevApi({ baseUrl: lobby.url, token: lobby.token });
    const cases: unknown[] = [
      null,
      42,
      ...NOT_STRINGS.filter((value) => value !== undefined).map((vm) => ({ vm, api })),
      ...["", "../x", "nul\0x", "a b", "user@", "x".repeat(300)].map((vm) => ({ vm, api })),
      ...[42, "true", []].map((create) => ({ create, api })),
      ...[42, "", "Bad"].map((cloneFrom) => ({ cloneFrom, api })),
      ...BAD_NUMBERS.filter((value) => value !== null).map((readyTimeoutMs) => ({
        create: true,
        api,
        readyTimeoutMs,
      })),
      { create: true, api, port: Number.NaN },
      { create: true, api, maxChannels: 0 },
      { create: true, api, privateKey: {} },
      { create: true, api, hostKey: "trust-me" },
    ];
    for (const options of cases) {
      await expectInvalid(() => createExeDevSandbox(options as never), show(options));
    }
    expect(lobby.requests).toHaveLength(0);
  });
});

describe("tokens and names (no I/O at all)", () => {
  const key = generateSshKeyPair();
  const token = mintToken({ privateKey: key.privateKey });

  it("mintToken", async () => {
    const cases: unknown[] = [
      undefined,
      null,
      42,
      "key",
      {},
      { privateKey: 42 },
      { privateKey: "" },
      { privateKey: "not a key" },
      { privateKey: key.privateKey, namespace: "" },
      { privateKey: key.privateKey, namespace: 42 },
      { privateKey: key.privateKey, permissions: 42 },
      { privateKey: key.privateKey, permissions: { exp: Number.NaN } },
      { privateKey: key.privateKey, permissions: { exp: Number.POSITIVE_INFINITY } },
      { privateKey: key.privateKey, permissions: { exp: -1 } },
      { privateKey: key.privateKey, permissions: { nbf: 2 ** 64 } },
      { privateKey: key.privateKey, permissions: { cmds: "ls" } },
      { privateKey: key.privateKey, permissions: { cmds: [42] } },
      { privateKey: key.privateKey, permissions: { ctx: "x".repeat(10_000) } },
      { privateKey: key.privateKey, passphrase: 42 },
    ];
    for (const options of cases) await expectInvalid(() => mintToken(options as never), show(options));
  });

  it("verifyToken and inspectToken", async () => {
    const tokens = [...BAD_STRINGS, "exe0.", "exe0..", `${token}\0`, `${token}x`.repeat(1000), ` ${token}`];
    for (const bad of tokens) {
      await expectInvalid(() => inspectToken(bad as string), `inspectToken ${show(bad).slice(0, 40)}`);
      await expectInvalid(
        () => verifyToken(bad as string, key.publicKey),
        `verifyToken ${show(bad).slice(0, 40)}`,
      );
    }
    for (const publicKey of [...BAD_STRINGS, "ssh-ed25519", "ssh-ed25519 !!!", key.privateKey]) {
      await expectInvalid(
        () => verifyToken(token, publicKey as string),
        `publicKey ${show(publicKey).slice(0, 40)}`,
      );
    }
    for (const options of [
      42,
      "x",
      { namespace: "" },
      { namespace: 42 },
      ...BAD_NUMBERS.slice(0, 3).map((nowSeconds) => ({ nowSeconds })),
    ]) {
      await expectInvalid(
        () => verifyToken(token, key.publicKey, options as never),
        `options ${show(options)}`,
      );
    }
  });

  it("generateVmName, validateVmName, shellQuote", async () => {
    for (const bad of [...BAD_STRINGS, "../x", "Bad", "a", "x".repeat(53), "web-p1"]) {
      await expectInvalid(() => validateVmName(bad as string), `validateVmName ${show(bad)}`);
    }
    for (const bad of [...BAD_STRINGS.filter((value) => value !== ""), "Bad", "x".repeat(44), "ok-viagra"]) {
      await expectInvalid(() => generateVmName(bad as string), `generateVmName ${show(bad)}`);
    }
    for (const bad of NOT_STRINGS) {
      await expectInvalid(() => shellQuote(bad as string), `shellQuote ${show(bad)}`);
    }
  });
});

describeWithSshd("a live sandbox's methods and the tool specs", () => {
  let sshd: SshdServer;
  let counter: Awaited<ReturnType<typeof startByteCounter>>;
  let sandbox: SshSandbox;
  beforeAll(async () => {
    sshd = await startSshd();
    counter = await startByteCounter(sshd);
    sandbox = await connectSandbox({
      host: "127.0.0.1",
      port: counter.port,
      username: sshd.username,
      privateKey: sshd.privateKey,
      hostKey: "off",
      keepaliveIntervalMs: 0,
    });
    // Settle: the connection's set-up traffic is done before counting starts.
    await sandbox.exec("true");
  });
  afterAll(async () => {
    await sandbox?.close();
    await counter?.close();
    await sshd?.stop();
  });

  it("every method refuses malformed input without sending a byte", async () => {
    const paths = [...BAD_STRINGS, "relative/path", `/${"x".repeat(5000)}`];
    const before = counter.sent();
    const calls: Array<[string, () => unknown]> = [
      ...[...BAD_STRINGS, "   "].map(
        (command) =>
          [`exec ${show(command)}`, () => sandbox.exec(command as string)] as [string, () => unknown],
      ),
      ...[
        42,
        "options",
        { cwd: "relative" },
        { cwd: "nul\0" },
        { cwd: 42 },
        { env: "A=1" },
        { env: { "BAD NAME": "x" } },
        { env: { A: 42 } },
        { env: { A: "nul\0" } },
        { stdin: 42 },
        { stdin: {} },
        ...BAD_NUMBERS.filter((value) => value !== null).map((timeoutMs) => ({ timeoutMs })),
        { signal: "abort" },
        { signal: {} },
        { onStdout: "print" },
        { onStderr: 42 },
        ...[0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "10"].map((maxOutputBytes) => ({
          maxOutputBytes,
        })),
      ].map(
        (options) =>
          [`exec options ${show(options)}`, () => sandbox.exec("true", options as never)] as [
            string,
            () => unknown,
          ],
      ),
      ...paths.flatMap((path) => [
        [`readFile ${show(path).slice(0, 30)}`, () => sandbox.readFile(path as string)] as [
          string,
          () => unknown,
        ],
        [`readFileBuffer ${show(path).slice(0, 30)}`, () => sandbox.readFileBuffer(path as string)] as [
          string,
          () => unknown,
        ],
        [`writeFile ${show(path).slice(0, 30)}`, () => sandbox.writeFile(path as string, "x")] as [
          string,
          () => unknown,
        ],
        [`stat ${show(path).slice(0, 30)}`, () => sandbox.stat(path as string)] as [string, () => unknown],
        [`readdir ${show(path).slice(0, 30)}`, () => sandbox.readdir(path as string)] as [
          string,
          () => unknown,
        ],
        [`exists ${show(path).slice(0, 30)}`, () => sandbox.exists(path as string)] as [
          string,
          () => unknown,
        ],
        [`mkdir ${show(path).slice(0, 30)}`, () => sandbox.mkdir(path as string)] as [string, () => unknown],
        [`rm ${show(path).slice(0, 30)}`, () => sandbox.rm(path as string)] as [string, () => unknown],
        [`rename from ${show(path).slice(0, 30)}`, () => sandbox.rename(path as string, "/tmp/x")] as [
          string,
          () => unknown,
        ],
        [`rename to ${show(path).slice(0, 30)}`, () => sandbox.rename("/tmp/x", path as string)] as [
          string,
          () => unknown,
        ],
        [
          `uploadFile remote ${show(path).slice(0, 30)}`,
          () => sandbox.uploadFile("/etc/hostname", path as string),
        ] as [string, () => unknown],
        [
          `downloadFile remote ${show(path).slice(0, 30)}`,
          () => sandbox.downloadFile(path as string, "/tmp/x"),
        ] as [string, () => unknown],
      ]),
      ...BAD_STRINGS.flatMap((local) => [
        [`uploadFile local ${show(local)}`, () => sandbox.uploadFile(local as string, "/tmp/x")] as [
          string,
          () => unknown,
        ],
        [`downloadFile local ${show(local)}`, () => sandbox.downloadFile("/tmp/x", local as string)] as [
          string,
          () => unknown,
        ],
      ]),
      ...[42, {}, [], null, true].map(
        (data) =>
          [`writeFile data ${show(data)}`, () => sandbox.writeFile("/tmp/x", data as never)] as [
            string,
            () => unknown,
          ],
      ),
      ...[42, "options", { mode: -1 }, { mode: 0o10000 }, { mode: 1.5 }, { mode: "644" }].map(
        (options) =>
          [
            `writeFile options ${show(options)}`,
            () => sandbox.writeFile("/tmp/x", "x", options as never),
          ] as [string, () => unknown],
      ),
      ...[42, "options", { recursive: "yes" }].map(
        (options) =>
          [`mkdir options ${show(options)}`, () => sandbox.mkdir("/tmp/x", options as never)] as [
            string,
            () => unknown,
          ],
      ),
      ...[42, "options", { recursive: "yes" }, { force: 1 }].map(
        (options) =>
          [`rm options ${show(options)}`, () => sandbox.rm("/tmp/x", options as never)] as [
            string,
            () => unknown,
          ],
      ),
    ];
    const failures: string[] = [];
    for (const [label, call] of calls) {
      let outcome: unknown;
      try {
        outcome = await call();
      } catch (error) {
        outcome = error;
      }
      if ((outcome as { code?: unknown })?.code !== "invalid_argument") {
        failures.push(`${label}: ${(outcome as { code?: unknown })?.code ?? show(outcome)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(counter.sent()).toBe(before);
  });

  it("every tool spec answers malformed input with an invalid_argument result, without sending a byte", async () => {
    const before = counter.sent();
    const common: unknown[] = [undefined, null, 42, "input", [], () => ({})];
    // Per tool: the fields it requires, with the wrong type or empty (listFiles requires none).
    const specific: Record<string, unknown[]> = {
      bash: [{}, { command: 42 }, { command: "" }, { command: "true", timeoutMs: -1 }],
      readFile: [{}, { path: 42 }, { path: "" }, { path: "/x", startLine: 0 }],
      writeFile: [{}, { path: 42, content: "x" }, { path: "/tmp/x", content: 42 }],
      editFile: [
        {},
        { path: "/tmp/x", oldString: "", newString: "b" },
        { path: 42, oldString: "a", newString: "b" },
      ],
      listFiles: [{ path: 42 }, { depth: -1 }, { depth: "2" }],
      startProcess: [
        {},
        { command: "" },
        { command: "true", waitForPort: 0 },
        { command: "true", waitForPort: 70_000 },
        { command: "true", waitMs: -1 },
        { command: "true", timeoutMs: 0 },
      ],
      processOutput: [{}, { id: "" }, { id: 42 }, { id: "p", waitMs: -1 }, { id: "p", waitForText: "" }],
      stopProcess: [{}, { id: "" }, { id: "p", signal: "SIGSTOP" }],
      listProcesses: [],
      previewUrl: [
        {},
        { port: 0 },
        { port: 70_000 },
        { port: 3.5 },
        { port: "3000" },
        { port: 3000, path: "no-slash" },
        { port: 3000, path: "/a b" },
      ],
    };
    const failures: string[] = [];
    for (const spec of toolSpecs) {
      expect(specific[spec.name], spec.name).toBeDefined();
      for (const input of [...common, ...(specific[spec.name] ?? [])]) {
        const result = await spec.run(sandbox, input as never);
        if (result.ok || result.code !== "invalid_argument") {
          failures.push(`${spec.name} ${show(input)}: ${result.ok ? "ok" : result.code}`);
        }
      }
      for (const context of [
        42,
        { cwd: "relative" },
        { defaultTimeoutMs: Number.NaN },
        { maxOutputChars: -1 },
      ]) {
        const result = await spec.run(
          sandbox,
          { path: "/tmp/x", command: "true", content: "x" } as never,
          context as never,
        );
        if (result.ok || result.code !== "invalid_argument") {
          failures.push(`${spec.name} context ${show(context)}: ${result.ok ? "ok" : result.code}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(counter.sent()).toBe(before);
  });

  it("a closed sandbox still says invalid_argument for bad input (checked first)", async () => {
    const other = await connectSandbox({
      host: "127.0.0.1",
      port: counter.port,
      username: sshd.username,
      privateKey: sshd.privateKey,
      hostKey: "off",
    });
    await other.close();
    await expectSandboxError(other.readFile(""), "invalid_argument");
    await expectSandboxError(other.exec("true"), "closed");
  });
});
