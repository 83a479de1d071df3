// SandboxCache against a real OpenSSH server: one dial shared by concurrent users, a connection
// lost for good is dropped and dialled again, close() waits for running work unless cancelled.
import { randomBytes } from "node:crypto";
import {
  describeWithSshd,
  type Forwarder,
  remainingProcesses,
  type SshdServer,
  startForwarder,
  startSshd,
} from "@exedev-sandbox/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  connectSandbox,
  isSandboxError,
  isSandboxGone,
  SandboxCache,
  SandboxError,
  type SshSandbox,
} from "./index.js";

const newTag = () => `sbc${randomBytes(5).toString("hex")}`;

describe("isSandboxGone", () => {
  it("is true for sandbox_died and closed only", () => {
    expect(isSandboxGone(new SandboxError("sandbox_died", "x"))).toBe(true);
    expect(isSandboxGone(new SandboxError("closed", "x"))).toBe(true);
    for (const code of ["timeout", "connection_failed", "not_found", "aborted"] as const) {
      expect(isSandboxGone(new SandboxError(code, "x"))).toBe(false);
    }
    expect(isSandboxGone(new Error("closed"))).toBe(false);
    expect(isSandboxGone(undefined)).toBe(false);
  });
});

describe("SandboxCache input", () => {
  it("rejects a bad key, open, work or release with invalid_argument before dialling", async () => {
    const cache = new SandboxCache<SshSandbox>();
    let dials = 0;
    const open = async () => {
      dials++;
      return undefined as never;
    };
    await expect(cache.get(1 as never, open)).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(cache.get("k", "open" as never)).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(cache.use("k", open, undefined as never)).rejects.toMatchObject({
      code: "invalid_argument",
    });
    expect(() => new SandboxCache({ release: 5 as never })).toThrow(SandboxError);
    expect(dials).toBe(0);
    expect(cache.size).toBe(0);
  });

  it("does not keep a failed dial: the next user dials again", async () => {
    const cache = new SandboxCache<{ close(): Promise<void> }>();
    let dials = 0;
    const open = async () => {
      dials++;
      if (dials === 1) throw new SandboxError("connection_failed", "refused");
      return { close: async () => {} };
    };
    await expect(cache.get("k", open)).rejects.toMatchObject({ code: "connection_failed" });
    expect(cache.has("k")).toBe(false);
    await expect(cache.get("k", open)).resolves.toBeDefined();
    expect(dials).toBe(2);
  });

  it("closeAll reports a failed release, including one of a sandbox dropped earlier", async () => {
    const failing = { close: async () => Promise.reject(new SandboxError("api_error", "could not delete")) };
    const cache = new SandboxCache<typeof failing>();
    await cache.get("a", async () => failing);
    expect(cache.drop("a")).toBe(true);
    await cache.get("b", async () => failing);
    const error = await cache.closeAll().catch((caught: unknown) => caught);
    expect(isSandboxError(error, "api_error")).toBe(true);
    expect((error as SandboxError).details).toEqual({ failed: 2 });
    await expect(cache.closeAll()).resolves.toBeUndefined(); // reported once
  });
});

describeWithSshd("SandboxCache against OpenSSH", () => {
  let server: SshdServer;
  let checker: SshSandbox;
  const hops: Forwarder[] = [];
  beforeAll(async () => {
    server = await startSshd();
    checker = await connectSandbox(server.connectOptions());
  });
  afterEach(async () => {
    for (const hop of hops.splice(0)) await hop.kill();
  });
  afterAll(async () => {
    await checker?.close();
    await server?.stop();
  });

  /** A dial through a fresh forwarder, with a short reconnect budget so a cut path means gone. */
  async function dialler(): Promise<{
    open: () => Promise<SshSandbox>;
    dials: () => number;
    hop: () => Forwarder;
  }> {
    let dials = 0;
    let hop = await startForwarder(server);
    hops.push(hop);
    return {
      open: async () => {
        dials++;
        if (dials > 1) {
          hop = await startForwarder(server);
          hops.push(hop);
        }
        return connectSandbox({ ...server.connectOptions(), port: hop.port, reconnectMs: 1_000 });
      },
      dials: () => dials,
      hop: () => hop,
    };
  }

  it("shares one dial between concurrent users of a key", async () => {
    const cache = new SandboxCache<SshSandbox>();
    const { open, dials } = await dialler();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, index) =>
        cache.use("vm", open, (sandbox) => sandbox.exec(`echo ${index}`)),
      ),
    );
    expect(results.map((result) => result.stdout)).toEqual(["0\n", "1\n", "2\n", "3\n", "4\n"]);
    expect(dials()).toBe(1);
    const [first, second] = await Promise.all([cache.get("vm", open), cache.get("vm", open)]);
    expect(first).toBe(second);
    await cache.closeAll();
    await expect(first.exec("true")).rejects.toMatchObject({ code: "closed" });
  });

  it("keeps a sandbox across a cut connection it re-establishes itself: no new dial", async () => {
    const cache = new SandboxCache<SshSandbox>();
    const { open, dials, hop } = await dialler();
    const before = await cache.get("vm", open);
    expect((await cache.use("vm", open, (sandbox) => sandbox.exec("echo one"))).stdout).toBe("one\n");
    hop().cut(); // a blip: the forwarder still listens, so the sandbox reconnects within reconnectMs
    // A call in flight over the cut connection has an unknown fate (connection_failed,
    // retryable); that is no reason to drop the sandbox.
    const during = await cache.use("vm", open, (sandbox) => sandbox.exec("echo two")).catch((error) => error);
    if (during instanceof Error)
      expect(isSandboxError(during, "connection_failed"), String(during)).toBe(true);
    else expect(during.stdout).toBe("two\n");
    expect(cache.has("vm")).toBe(true);
    const after = await cache.use("vm", open, (sandbox) => sandbox.exec("echo three"));
    expect(after.stdout).toBe("three\n");
    expect(dials()).toBe(1);
    expect(await cache.get("vm", open)).toBe(before);
    await cache.closeAll();
  });

  it("drops a sandbox whose connection was lost for good and dials again on the next use", async () => {
    const cache = new SandboxCache<SshSandbox>();
    const { open, dials, hop } = await dialler();
    const before = await cache.get("vm", open);
    expect((await cache.use("vm", open, (sandbox) => sandbox.exec("echo one"))).stdout).toBe("one\n");
    await hop().kill(); // the path is gone: the reconnect budget (1 s) runs out
    const started = Date.now();
    const lost = await cache.use("vm", open, (sandbox) => sandbox.exec("echo two")).catch((error) => error);
    expect(isSandboxError(lost, "sandbox_died"), String(lost)).toBe(true);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(cache.has("vm")).toBe(false);
    const again = await cache.use("vm", open, (sandbox) => sandbox.exec("echo three"));
    expect(again.stdout).toBe("three\n");
    expect(dials()).toBe(2);
    expect(await cache.get("vm", open)).not.toBe(before);
    await cache.closeAll();
  });

  it("close() waits for running work; with cancelWork it closes at once and nothing keeps running", async () => {
    const cache = new SandboxCache<SshSandbox>();
    const { open } = await dialler();
    const waited = cache.use("vm", open, (sandbox) => sandbox.exec("sleep 1; echo done"));
    await cache.get("vm", open);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await cache.close("vm");
    expect((await waited).stdout).toBe("done\n");

    const tag = newTag();
    const cancelled = cache
      .use("vm", open, (sandbox) => sandbox.exec(`sleep 30; echo ${tag}`))
      .catch((error: unknown) => error);
    await cache.get("vm", open);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    await cache.close("vm", { cancelWork: true });
    const outcome = await cancelled;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(isSandboxError(outcome, "closed"), String(outcome)).toBe(true);
    expect(cache.has("vm")).toBe(false);
    expect(await remainingProcesses(checker, `sleep 30; echo ${tag}`)).toBe("");
  });

  it("set() caches a sandbox made elsewhere and releases the one it replaces", async () => {
    const cache = new SandboxCache<SshSandbox>();
    const { open, dials } = await dialler();
    const made = await open();
    cache.set("vm", made);
    expect(await cache.get("vm", open)).toBe(made);
    const replacement = await open();
    cache.set("vm", replacement);
    await expect.poll(() => made.exec("true").catch((error) => error.code)).toBe("closed");
    expect((await cache.use("vm", open, (sandbox) => sandbox.exec("echo ok"))).stdout).toBe("ok\n");
    expect(dials()).toBe(2);
    await cache.closeAll();
  });
});
