import { createServer } from "node:net";
import { type LobbyReply, type LobbyServer, startLobbyServer } from "@exedev-sandbox/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { isSandboxError, type SandboxError } from "../errors.js";
import { createExeDevApi, type ExeDevApi } from "./exe-dev-api.js";
import { type ExeDevApiTestOptions, withTestKnobs } from "./test-knobs.js";

let server: LobbyServer;

beforeAll(async () => {
  server = await startLobbyServer();
});
afterAll(() => server.close());
beforeEach(() => {
  server.vms.clear();
  server.requests.length = 0;
  server.intercept = undefined;
});

/** A client with quick retries and a roomy private bucket, so tests stay fast. */
function makeApi(extra: ExeDevApiTestOptions = {}): ExeDevApi {
  return createExeDevApi(
    withTestKnobs({
      token: server.token,
      baseUrl: server.url,
      retryBaseDelayMs: 5,
      maxRetryDelayMs: 20,
      rateLimit: { burst: 1000, refillPerSecond: 1000 },
      ...extra,
    }),
  );
}

async function caught(promise: Promise<unknown>): Promise<SandboxError> {
  try {
    await promise;
  } catch (error) {
    if (isSandboxError(error)) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

/** Answers the first `count` requests for `command` with `reply` (optionally after running them). */
function failFirst(command: string, count: number, reply: LobbyReply, runFirst = false): void {
  let seen = 0;
  server.intercept = (request) => {
    if (request.words[0] !== command || seen >= count) return undefined;
    seen++;
    if (runFirst) server.execute(request.words);
    return reply;
  };
}

describe("requests", () => {
  it("POSTs the quoted command line to /exec with a bearer token and text/plain", async () => {
    await makeApi().whoami();
    const [request] = server.requests;
    expect(request).toMatchObject({ method: "POST", path: "/exec", body: "'whoami'", words: ["whoami"] });
    expect(request?.headers.authorization).toBe(`Bearer ${server.token}`);
    expect(request?.headers["content-type"]).toBe("text/plain");
  });

  it("appends /exec to a base URL with a trailing slash", async () => {
    await createExeDevApi({ token: server.token, baseUrl: `${server.url}/` }).whoami();
    expect(server.requests[0]?.path).toBe("/exec");
  });

  it("returns the last JSON line of a multi-line answer, or the text when it is not JSON", async () => {
    server.intercept = () => ({ status: 200, lines: true, body: [{ error: "first" }, { ok: 1 }, { ok: 2 }] });
    expect(await makeApi().run(["stat", "my-box"])).toEqual({ ok: 2 });
    server.intercept = () => ({ status: 200, body: "hello from the vm\nsecond line" });
    expect(await makeApi().run(["ssh", "my-box", "echo hi"])).toBe("hello from the vm\nsecond line");
  });
});

describe("HTTP status mapping", () => {
  const cases: Array<[number, string]> = [
    [400, "invalid_argument"],
    [413, "invalid_argument"],
    [401, "auth_failed"],
    [403, "permission_denied"],
    [404, "not_found"],
    [405, "api_error"],
    [422, "api_error"],
  ];
  it.each(cases)("maps HTTP %i to %s without retrying", async (status, code) => {
    server.intercept = () => ({ status, body: { error: `server says ${status}` } });
    const error = await caught(makeApi().listVms());
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(false);
    expect(error.details).toMatchObject({ status, command: "ls" });
    expect(error.message).toContain(`server says ${status}`);
    expect(server.requests).toHaveLength(1);
  });

  it("puts the server's message of a 422 in the error", async () => {
    server.vms.clear();
    const error = await caught(makeApi().restartVm("no-such-vm"));
    expect(error).toMatchObject({
      code: "api_error",
      details: { status: 422, serverError: 'vm "no-such-vm" not found' },
    });
    expect(error.message).toContain('vm "no-such-vm" not found');
  });

  it("maps the real server paths: a wrong token is 401, an unknown command is 404", async () => {
    expect((await caught(createExeDevApi({ token: "exe0.wrong", baseUrl: server.url }).whoami())).code).toBe(
      "auth_failed",
    );
    expect((await caught(makeApi().run(["frobnicate"]))).code).toBe("not_found");
  });
});

describe("429 rate limiting", () => {
  it("retries with backoff and reports rate_limited once retries run out", async () => {
    server.intercept = () => ({ status: 429, body: { error: "rate limit exceeded" } });
    const error = await caught(makeApi({ maxRetries: 2 }).listVms());
    expect(error).toMatchObject({
      code: "rate_limited",
      retryable: true,
      details: { status: 429, attempts: 3 },
    });
    expect(server.requests).toHaveLength(3);
  });

  it("succeeds when a retry gets through, even for state-changing commands", async () => {
    failFirst("new", 2, { status: 429, body: { error: "rate limit exceeded" } });
    const vm = await makeApi().newVm({ name: "after-limit" });
    expect(vm.name).toBe("after-limit");
    expect(server.count("new")).toBe(3);
    expect(server.count("ls")).toBe(0);
  });

  it("honours Retry-After in seconds", async () => {
    failFirst("ls", 1, {
      status: 429,
      body: { error: "rate limit exceeded" },
      headers: { "retry-after": "1" },
    });
    const started = performance.now();
    await makeApi({ retryBaseDelayMs: 1 }).listVms();
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(server.requests).toHaveLength(2);
  });

  it("honours Retry-After: 0 by retrying at once", async () => {
    failFirst("ls", 2, {
      status: 429,
      body: { error: "rate limit exceeded" },
      headers: { "retry-after": "0" },
    });
    const started = performance.now();
    await makeApi({ retryBaseDelayMs: 5000 }).listVms();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(server.requests).toHaveLength(3);
  });
});

describe("5xx, network failures and timeouts", () => {
  it("retries read-only commands after 5xx", async () => {
    failFirst("ls", 2, { status: 500, body: { error: '"ls": internal error, trace ID: abc' } });
    expect(await makeApi().listVms()).toEqual([]);
    expect(server.requests).toHaveLength(3);
  });

  it("gives up after maxRetries with a retryable api_error", async () => {
    server.intercept = () => ({ status: 503, body: { error: "unavailable" } });
    const error = await caught(makeApi({ maxRetries: 2 }).whoami());
    expect(error).toMatchObject({ code: "api_error", retryable: true, details: { status: 503 } });
    expect(server.requests).toHaveLength(3);
  });

  it("does not repeat other state-changing commands after a 5xx, and says the outcome is unknown", async () => {
    server.intercept = () => ({ status: 500, body: { error: "internal error" } });
    const error = await caught(makeApi().run(["tag", "my-box", "ci"]));
    expect(error).toMatchObject({ code: "api_error", retryable: true, details: { outcomeUnknown: true } });
    expect(server.requests).toHaveLength(1);
  });

  it("retries read-only commands after a dropped connection", async () => {
    failFirst("ls", 1, { status: 0, destroy: true });
    expect(await makeApi().listVms()).toEqual([]);
    expect(server.requests).toHaveLength(2);
  });

  it("times out a request after timeoutMs with a retryable timeout error", async () => {
    // The answer comes far later than the deadline, so a slow machine cannot blur the two.
    server.intercept = () => ({ status: 200, body: { vms: [] }, delayMs: 5000 });
    const started = performance.now();
    const error = await caught(makeApi({ timeoutMs: 200, maxRetries: 0 }).listVms());
    expect(error).toMatchObject({ code: "timeout", retryable: true, details: { timeoutMs: 200 } });
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(performance.now() - started).toBeLessThan(2500);
  });

  it("retries a read-only command that timed out", async () => {
    // A deadline a loaded machine's second, prompt answer cannot miss; the first answer is far later.
    failFirst("ls", 1, { status: 200, body: { vms: [] }, delayMs: 5000 });
    expect(await makeApi({ timeoutMs: 1500 }).listVms()).toEqual([]);
    expect(server.requests).toHaveLength(2);
  });

  it("reports connection_failed for a server that is not there", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const api = createExeDevApi(
      withTestKnobs({
        token: "exe0.x",
        baseUrl: `http://127.0.0.1:${port}`,
        maxRetries: 1,
        retryBaseDelayMs: 1,
      }),
    );
    const error = await caught(api.newVm({ name: "never-made" }));
    expect(error).toMatchObject({
      code: "connection_failed",
      retryable: true,
      details: { networkCode: "ECONNREFUSED" },
    });
    // A refused connection never reached the server, so the create is not "outcome unknown".
    expect(error.details.outcomeUnknown).toBeUndefined();
    expect(error.details.attempts).toBe(2);
  });
});

describe("no double create", () => {
  it("returns the VM when `new` answered 504 but had created it, sending `new` once", async () => {
    failFirst("new", 1, { status: 504, body: { error: "command timed out" } }, true);
    const vm = await makeApi().newVm({ name: "slow-create" });
    expect(vm).toMatchObject({ name: "slow-create", sshHost: "slow-create.exe.xyz", status: "running" });
    expect(server.count("new")).toBe(1);
    expect(server.count("ls")).toBe(1);
    expect(server.vms.size).toBe(1);
  });

  it("checks with ls, then sends `new` again when the first one did not happen", async () => {
    failFirst("new", 1, { status: 504, body: { error: "command timed out" } });
    const vm = await makeApi().newVm({ name: "retry-create" });
    expect(vm.name).toBe("retry-create");
    expect(server.count("new")).toBe(2);
    expect(server.vms.size).toBe(1);
  });

  it("checks with ls after a dropped connection or a client timeout", async () => {
    failFirst("new", 1, { status: 0, destroy: true }, true);
    expect((await makeApi().newVm({ name: "dropped-create" })).name).toBe("dropped-create");
    expect(server.count("new")).toBe(1);

    server.requests.length = 0;
    failFirst("new", 1, { status: 200, body: {}, delayMs: 5000 }, true);
    expect((await makeApi({ timeoutMs: 1500 }).newVm({ name: "timed-create" })).name).toBe("timed-create");
    expect(server.count("new")).toBe(1);
  });

  it("generates and sends a name when none is given, so the check is possible", async () => {
    failFirst("new", 1, { status: 502, body: { error: "bad gateway" } }, true);
    const vm = await makeApi().newVm();
    expect(vm.name).toMatch(/^sbx-[a-z0-9]{8}$/);
    expect(server.requests[0]?.words).toContain(`--name=${vm.name}`);
    expect(server.count("new")).toBe(1);
  });

  it("treats 'name not available' on a repeat as its own earlier create", async () => {
    let lsSeen = 0;
    let newSeen = 0;
    server.intercept = (request) => {
      if (request.words[0] === "new") {
        if (newSeen++ === 0) return { status: 504, body: { error: "command timed out" } };
        // The first create finishes only after the client's first look, just before the repeat
        // is handled (here, not on a timer, so the order never depends on the machine's speed).
        if (newSeen === 2) server.execute(["new", "--name=late-create"]);
      }
      if (request.words[0] === "ls" && lsSeen++ === 0) return { status: 200, body: { vms: [] } };
      return undefined;
    };
    const vm = await makeApi({ retryBaseDelayMs: 30 }).newVm({ name: "late-create" });
    expect(vm.name).toBe("late-create");
    expect(server.count("new")).toBe(2);
    expect(server.vms.size).toBe(1);
  });

  it("fails at once, without listing, when the first `new` is refused", async () => {
    await makeApi().newVm({ name: "taken-name" });
    server.requests.length = 0;
    const error = await caught(makeApi().newVm({ name: "taken-name" }));
    expect(error).toMatchObject({ code: "api_error", details: { status: 422 } });
    expect(error.message).toContain("not available");
    expect(server.count("ls")).toBe(0);
  });

  it("gives up after maxRetries when the VM never appears", async () => {
    server.intercept = (request) =>
      request.words[0] === "new" ? { status: 504, body: { error: "command timed out" } } : undefined;
    const error = await caught(makeApi({ maxRetries: 2 }).newVm({ name: "never-there" }));
    expect(error).toMatchObject({ code: "api_error", details: { status: 504, outcomeUnknown: true } });
    expect(server.count("new")).toBe(3);
    expect(server.count("ls")).toBe(3);
  });

  it("does the same for cp", async () => {
    await makeApi().newVm({ name: "source-box" });
    server.requests.length = 0;
    failFirst("cp", 1, { status: 504, body: { error: "command timed out" } }, true);
    const copy = await makeApi().cloneVm("source-box", { name: "copy-box" });
    expect(copy.name).toBe("copy-box");
    expect(server.count("cp")).toBe(1);
    expect(server.requests[0]?.words).toEqual(["cp", "source-box", "copy-box"]);
  });
});

describe("VM commands", () => {
  it("newVm sends --name and --no-email=true by default, nothing else", async () => {
    const vm = await makeApi().newVm({ name: "plain-box" });
    expect(server.requests[0]?.words).toEqual(["new", "--name=plain-box", "--no-email=true"]);
    expect(vm).toMatchObject({ name: "plain-box", sshHost: "plain-box.exe.xyz", sshPort: 22, tags: [] });
    expect(vm.raw).toMatchObject({ vm_name: "plain-box", proxy_port: 8000 });
  });

  it("newVm sends every option as a --flag=value word", async () => {
    await makeApi().newVm({
      name: "full-box",
      image: "ubuntu:24.04",
      command: "sleep infinity",
      cpu: 4,
      memory: "16GiB",
      disk: 40,
      env: { FOO: "bar baz", QUOTE: "it's" },
      tags: ["ci", "run_1"],
      integrations: ["github"],
      comment: "made by a test",
      prompt: "say hi",
      noEmail: false,
    });
    expect(server.requests[0]?.words).toEqual([
      "new",
      "--name=full-box",
      "--image=ubuntu:24.04",
      "--command=sleep infinity",
      "--cpu=4",
      "--memory=16GiB",
      "--disk=40GiB",
      "--env=FOO=bar baz",
      "--env=QUOTE=it's",
      "--tag=ci",
      "--tag=run_1",
      "--integration=github",
      "--comment=made by a test",
      "--prompt=say hi",
    ]);
    expect(server.vms.get("full-box")).toMatchObject({
      env: { FOO: "bar baz", QUOTE: "it's" },
      prompt: "say hi",
    });
    expect(server.vms.get("full-box")?.record.tags).toEqual(["ci", "run_1"]);
  });

  it("accepts a full host name and reads gateway-style SSH fields", async () => {
    const gateway = await startLobbyServer({ sshStyle: "gateway" });
    try {
      const api = createExeDevApi({ token: gateway.token, baseUrl: gateway.url });
      const vm = await api.newVm({ name: "gw-box.exe.xyz" });
      expect(vm).toMatchObject({
        name: "gw-box",
        sshHost: "gw.example.test",
        sshUser: "vm+gw-box",
        sshPort: 22,
      });
      expect(await api.getVm("gw-box")).toMatchObject({ sshHost: "gw.example.test", sshUser: "vm+gw-box" });
    } finally {
      await gateway.close();
    }
  });

  it("listVms lists all or by pattern; getVm wants the exact name", async () => {
    const api = makeApi();
    await api.newVm({ name: "alpha-box", tags: ["beta-box"] });
    await api.newVm({ name: "gamma-box" });
    expect((await api.listVms()).map((vm) => vm.name).sort()).toEqual(["alpha-box", "gamma-box"]);
    expect((await api.listVms("gam*")).map((vm) => vm.name)).toEqual(["gamma-box"]);
    expect(await api.getVm("gamma-box")).toMatchObject({
      name: "gamma-box",
      region: "lax",
      status: "running",
    });
    // `ls beta-box` matches alpha-box by its tag; that is not a VM named beta-box.
    expect(await api.getVm("beta-box")).toBeUndefined();
    expect(server.requests.at(-1)?.words).toEqual(["ls", "beta-box"]);
  });

  it("removeVm reports deleted and failed VMs from a multi-line answer", async () => {
    const api = makeApi();
    await api.newVm({ name: "doomed-box" });
    const result = await api.removeVm("doomed-box", "missing-box");
    expect(result).toEqual({
      deleted: ["doomed-box"],
      failed: ["missing-box"],
      errors: ['vm "missing-box" not found'],
    });
    expect(server.vms.size).toBe(0);
  });

  it("removeVm with missingOk counts a VM that does not exist as deleted, and still reports real failures", async () => {
    const api = makeApi();
    await api.newVm({ name: "doomed-box" });
    await api.newVm({ name: "locked-box" });
    const route = server.intercept;
    server.intercept = (request) => {
      if (request.words[0] !== "rm") return route?.(request);
      server.execute(request.words.filter((word) => word !== "locked-box"));
      return {
        status: 200,
        lines: true,
        body: [
          { error: 'vm "missing-box" not found' },
          { error: 'vm "locked-box" is locked; unlock it first' },
          { deleted: ["doomed-box"], failed: ["missing-box", "locked-box"] },
        ],
      };
    };
    const result = await api.removeVm("doomed-box", "missing-box", "locked-box", { missingOk: true });
    expect(result).toEqual({
      deleted: ["doomed-box", "missing-box"],
      failed: ["locked-box"],
      errors: ['vm "locked-box" is locked; unlock it first'],
    });
    server.intercept = route;
    // Deleting twice is harmless with missingOk, and reported as a failure without it.
    expect(await api.removeVm("doomed-box", { missingOk: true })).toEqual({
      deleted: ["doomed-box"],
      failed: [],
      errors: [],
    });
    expect((await api.removeVm("doomed-box")).failed).toEqual(["doomed-box"]);
    await expect(api.removeVm("doomed-box", { missingOk: "yes" as never })).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });

  it("removeVm checks with ls after a lost answer and resends only what is still there", async () => {
    const api = makeApi();
    await api.newVm({ name: "first-box" });
    await api.newVm({ name: "second-box" });
    server.requests.length = 0;
    let seen = 0;
    server.intercept = (request) => {
      if (request.words[0] !== "rm" || seen++ > 0) return undefined;
      server.execute(["rm", "first-box"]);
      return { status: 504, body: { error: "command timed out" } };
    };
    const result = await api.removeVm("first-box", "second-box");
    expect(result).toEqual({ deleted: ["first-box", "second-box"], failed: [], errors: [] });
    expect(
      server.requests.filter((request) => request.words[0] === "rm").map((request) => request.words),
    ).toEqual([
      ["rm", "first-box", "second-box"],
      ["rm", "second-box"],
    ]);
  });

  it("removeVm does not resend when everything is gone", async () => {
    const api = makeApi();
    await api.newVm({ name: "gone-box" });
    server.requests.length = 0;
    failFirst("rm", 1, { status: 0, destroy: true }, true);
    expect(await api.removeVm("gone-box")).toEqual({ deleted: ["gone-box"], failed: [], errors: [] });
    expect(server.count("rm")).toBe(1);
  });

  it("cloneVm reads both the new shape and cp's May-2026 shape", async () => {
    const api = makeApi();
    await api.newVm({ name: "base-box", tags: ["golden"] });
    expect(
      await api.cloneVm("base-box", { name: "clone-one", cpu: 2, memory: 4, copyTags: false }),
    ).toMatchObject({
      name: "clone-one",
      sshHost: "clone-one.exe.xyz",
      tags: [],
    });
    expect(server.requests.at(-1)?.words).toEqual([
      "cp",
      "base-box",
      "clone-one",
      "--cpu=2",
      "--memory=4GiB",
      "--copy-tags=false",
    ]);

    const old = await startLobbyServer({ cpShape: "may-2026", sshStyle: "gateway" });
    try {
      const oldApi = createExeDevApi({ token: old.token, baseUrl: old.url });
      await oldApi.newVm({ name: "base-box" });
      const copy = await oldApi.cloneVm("base-box");
      expect(copy).toMatchObject({
        sshHost: "gw.example.test",
        sshUser: `vm+${copy.name}`,
        status: "starting",
      });
      expect(copy.name).toMatch(/^sbx-/);
      expect(copy.raw).toMatchObject({ source: "base-box", elapsed: 1.5 });
    } finally {
      await old.close();
    }
  });

  it("restartVm and whoami", async () => {
    const api = makeApi();
    await api.newVm({ name: "restart-box" });
    await expect(api.restartVm("restart-box")).resolves.toBeUndefined();
    expect(server.requests.at(-1)?.words).toEqual(["restart", "restart-box"]);
    expect(await api.whoami()).toMatchObject({
      email: "dev@example.test",
      region: "lax",
      regionDisplay: "Los Angeles",
      sshKeys: [{ fingerprint: "SHA256:abc", name: "laptop", current: true }],
    });
  });

  it("throws api_error for an answer it cannot read", async () => {
    server.intercept = () => ({ status: 200, body: "not json" });
    expect(await caught(makeApi().newVm({ name: "weird-box" }))).toMatchObject({ code: "api_error" });
    expect(await caught(makeApi().removeVm("weird-box"))).toMatchObject({ code: "api_error" });
    expect(await caught(makeApi().listVms())).toMatchObject({ code: "api_error" });
    server.intercept = () => ({ status: 200, body: { vms: null } });
    expect(await makeApi().listVms()).toEqual([]);
  });

  it("does not create again when the check after a lost answer gets an unreadable list", async () => {
    server.intercept = (request) => {
      if (request.words[0] === "new") return { status: 504, body: { error: "command timed out" } };
      if (request.words[0] === "ls") return { status: 200, body: { unexpected: true } };
      return undefined;
    };
    const error = await caught(makeApi().newVm({ name: "unsure-box" }));
    expect(error).toMatchObject({ code: "api_error", details: { status: 504, outcomeUnknown: true } });
    expect(server.count("new")).toBe(1);
  });
});

describe("input validation before any I/O", () => {
  const invalidNew: Array<[string, Record<string, unknown>]> = [
    ["name", { name: "Bad_Name" }],
    ["port-like name", { name: "web-p8080" }],
    ["cpu 0", { cpu: 0 }],
    ["cpu 1.5", { cpu: 1.5 }],
    ["memory with a space", { memory: "8 GB" }],
    ["memory word", { memory: "lots" }],
    ["memory 0", { memory: 0 }],
    ["disk negative", { disk: -1 }],
    ["env name", { env: { "1BAD": "x" } }],
    ["env value with a newline", { env: { GOOD: "a\nb" } }],
    ["env value not a string", { env: { GOOD: 1 } }],
    ["tag", { tags: ["Bad"] }],
    ["tags not an array", { tags: "ci" }],
    ["integration", { integrations: ["a b"] }],
    ["comment too long", { comment: "x".repeat(201) }],
    ["comment multi-byte too long", { comment: "é".repeat(101) }],
    ["comment with a tab", { comment: "a\tb" }],
    ["prompt with a newline", { prompt: "a\nb" }],
    ["image with a space", { image: "ubuntu 24.04" }],
    ["setup script with CR", { setupScript: "echo hi\r\n" }],
    ["noEmail not boolean", { noEmail: "yes" }],
  ];
  it.each(invalidNew)("newVm refuses a bad %s", async (_, options) => {
    expect(await caught(makeApi().newVm(options as never))).toMatchObject({ code: "invalid_argument" });
    expect(server.requests).toHaveLength(0);
  });

  it("accepts the documented size spellings", async () => {
    const api = makeApi();
    await api.newVm({ name: "size-one", memory: "8GB", disk: "25GiB" });
    await api.newVm({ name: "size-two", memory: "2048MiB", disk: "1T" });
    await api.newVm({ name: "size-three", memory: 2, comment: "x".repeat(200) });
    expect(server.vms.size).toBe(3);
  });

  it("other methods refuse bad names and arguments", async () => {
    const api = makeApi();
    const attempts: Array<Promise<unknown>> = [
      api.getVm("ab"),
      api.restartVm("Bad"),
      api.removeVm(),
      api.removeVm("ok-name", "BAD"),
      api.cloneVm("bad source"),
      api.cloneVm("good-source", { copyTags: "no" as never }),
      api.cloneVm("good-source", { name: "x" }),
      api.listVms("-a"),
      api.listVms("two words"),
      api.run([]),
      api.run(["echo", "a\nb"]),
      api.run("ls" as never),
    ];
    for (const attempt of attempts) {
      expect(await caught(attempt)).toMatchObject({ code: "invalid_argument" });
    }
    expect(server.requests).toHaveLength(0);
  });

  it("createExeDevApi refuses malformed options at once", () => {
    const bad: Array<Record<string, unknown>> = [
      { timeoutMs: -1 },
      { timeoutMs: 0 },
      { timeoutMs: Number.NaN },
      { maxRetries: 1.5 },
      { maxRetries: -1 },
      { baseUrl: "ftp://exe.dev" },
      { baseUrl: "not a url" },
      { token: 42 },
      { fetch: "fetch" },
    ];
    for (const options of bad) {
      expect(() => createExeDevApi(options as never), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
    }
  });

  it("uses an injected fetch", async () => {
    const seen: string[] = [];
    const api = createExeDevApi({
      token: server.token,
      baseUrl: server.url,
      fetch: (input, init) => {
        seen.push(String(input));
        return fetch(input, init);
      },
    });
    await api.whoami();
    expect(seen).toEqual([`${server.url}/exec`]);
  });
});

describe("environment variables", () => {
  const names = ["EXE_API_TOKEN", "EXE_API_KEY", "EXE_API_URL"] as const;
  const saved: Record<string, string | undefined> = {};
  beforeEach(() => {
    for (const name of names) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
  });
  afterEach(() => {
    for (const name of names) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  it("reads EXE_API_TOKEN and EXE_API_URL", async () => {
    process.env.EXE_API_TOKEN = server.token;
    process.env.EXE_API_URL = server.url;
    await createExeDevApi().whoami();
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${server.token}`);
  });

  it("falls back to EXE_API_KEY, and prefers EXE_API_TOKEN when both are set", async () => {
    process.env.EXE_API_KEY = server.token;
    await createExeDevApi({ baseUrl: server.url }).whoami();
    process.env.EXE_API_TOKEN = "exe0.from-token-var";
    await caught(createExeDevApi({ baseUrl: server.url, maxRetries: 0 }).whoami());
    expect(server.requests.map((request) => request.headers.authorization)).toEqual([
      `Bearer ${server.token}`,
      "Bearer exe0.from-token-var",
    ]);
  });

  it("lets explicit options win over the environment", async () => {
    process.env.EXE_API_TOKEN = "exe0.from-env";
    process.env.EXE_API_URL = "http://127.0.0.1:1";
    await createExeDevApi({ token: server.token, baseUrl: server.url }).whoami();
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${server.token}`);
  });

  it("reads the environment on first use, and fails then, naming both variables, when no token is set", async () => {
    const api = createExeDevApi({ baseUrl: server.url });
    const error = await caught(api.whoami());
    expect(error.code).toBe("auth_failed");
    expect(error.message).toContain("EXE_API_TOKEN");
    expect(error.message).toContain("EXE_API_KEY");
    expect(server.requests).toHaveLength(0);
    process.env.EXE_API_TOKEN = server.token;
    await api.whoami();
    expect(server.requests).toHaveLength(1);
  });

  it("refuses a malformed EXE_API_URL on first use", async () => {
    process.env.EXE_API_TOKEN = server.token;
    process.env.EXE_API_URL = "exe.dev";
    expect(await caught(createExeDevApi().whoami())).toMatchObject({ code: "invalid_argument" });
  });
});
