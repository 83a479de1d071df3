// Restarts: sshd stopped and started again on the same port and host key, as a VM restart or an
// sshd restart looks to the client. Calls made during the outage wait for the reconnect budget.
import { randomBytes } from "node:crypto";
import {
  describeWithSshd,
  expectSandboxError,
  remainingProcesses,
  type SshdServer,
  startForwarder,
  startSshd,
} from "@exedev-sandbox/testing";
import { afterEach, beforeEach, expect, it } from "vitest";
import { connectSandbox, isSandboxError, type SshSandbox } from "../index.js";
import { resolveConnectOptions } from "./connect-options.js";
import { SshConnection } from "./connection.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const tag = () => `${randomBytes(3).readUIntBE(0, 3)}.${randomBytes(1)[0]}`;

/** How long `promise` took to settle, and how. */
async function timed<T>(
  promise: Promise<T>,
): Promise<{ ms: number; endedAt: number; value?: T; error?: unknown }> {
  const started = Date.now();
  try {
    const value = await promise;
    return { ms: Date.now() - started, endedAt: Date.now(), value };
  } catch (error) {
    return { ms: Date.now() - started, endedAt: Date.now(), error };
  }
}

describeWithSshd("restarts against OpenSSH", () => {
  let server: SshdServer;
  let checker: SshSandbox | undefined;
  beforeEach(async () => {
    server = await startSshd();
  });
  afterEach(async () => {
    await checker?.close();
    checker = undefined;
    await server.stop();
  });

  it("survives a 4 s sshd restart: calls made during the outage wait, then succeed", async () => {
    const sandbox = await connectSandbox(server.connectOptions()); // default budget: 60 s
    const file = `${sandbox.homeDir}/restart-${tag()}.txt`;
    const written = `${file}.written`;
    await sandbox.writeFile(file, "old");
    const running = tag();
    const inFlight = timed(sandbox.exec(`sleep ${running}`));
    await sleep(300);
    await server.stopListening();
    await sleep(300); // noticed by the client: later calls wait rather than fail in flight
    const downAt = Date.now();
    const during = Promise.all([
      timed(sandbox.exec("echo during")),
      timed(sandbox.readFile(file)),
      timed(sandbox.writeFile(written, "new")),
    ]);
    await sleep(4_000);
    await server.start();
    const upAfterMs = Date.now() - downAt;
    const [exec, read, write] = await during;
    expect(exec.value?.stdout, String(exec.error)).toBe("during\n");
    expect(read.value, String(read.error)).toBe("old");
    expect(write.error).toBeUndefined();
    for (const call of [exec, read, write]) {
      expect(call.ms).toBeGreaterThanOrEqual(3_000); // they waited for the server
      expect(call.ms).toBeLessThan(upAfterMs + 3_000); // and ran soon after it came back
    }
    // The command running when sshd went down has an unknown fate: retryable, never "died".
    const lost = await inFlight;
    expect(isSandboxError(lost.error, "connection_failed"), String(lost.error)).toBe(true);
    expect((lost.error as { retryable?: boolean }).retryable).toBe(true);
    checker = await connectSandbox(server.connectOptions());
    expect(await checker.readFile(file)).toBe("old");
    expect(await checker.readFile(written)).toBe("new");
    expect(await remainingProcesses(checker, `sleep ${running}`)).toBe("");
    expect((await sandbox.exec("echo still")).stdout).toBe("still\n");
    await sandbox.rm(file);
    await sandbox.rm(written);
    await sandbox.close();
  });

  it("survives an sshd restart behind a TCP hop that keeps accepting connections", async () => {
    // exe.dev's proxy keeps accepting TCP while a VM restarts; the handshake then fails instead.
    const hop = await startForwarder(server);
    try {
      const sandbox = await connectSandbox({ ...server.connectOptions(), port: hop.port });
      expect((await sandbox.exec("echo before")).stdout).toBe("before\n");
      await server.stopListening();
      await sleep(300); // the hop has passed the close on (a call before that is in flight, not waiting)
      const during = timed(sandbox.exec("echo during"));
      await sleep(3_000);
      await server.start();
      const result = await during;
      expect(result.value?.stdout, String(result.error)).toBe("during\n");
      expect(result.ms).toBeGreaterThanOrEqual(2_500);
      await sandbox.close();
    } finally {
      await hop.kill();
    }
  });

  it("fails with sandbox_died once reconnectMs is spent, and stays dead", async () => {
    const sandbox = await connectSandbox({ ...server.connectOptions(), reconnectMs: 1_500 });
    expect((await sandbox.exec("echo alive")).stdout).toBe("alive\n");
    await server.stopListening();
    await sleep(200); // the loss is noticed; the budget starts with the next call
    const gone = await timed(sandbox.exec("echo gone"));
    expect(isSandboxError(gone.error, "sandbox_died"), String(gone.error)).toBe(true);
    expect(gone.ms).toBeGreaterThanOrEqual(1_400);
    expect(gone.ms).toBeLessThan(4_000);
    await server.start();
    const again = await timed(sandbox.exec("echo back"));
    expect(isSandboxError(again.error, "sandbox_died")).toBe(true);
    expect(again.ms).toBeLessThan(500); // dead is remembered, not re-dialled
    await sandbox.close();
  });

  it("with reconnectMs 0 fails at once while the server is down, but still recovers from a blip", async () => {
    const hop = await startForwarder(server);
    try {
      const sandbox = await connectSandbox({ ...server.connectOptions(), port: hop.port, reconnectMs: 0 });
      hop.cut(); // a blip: the server is still there
      await sleep(100);
      expect((await sandbox.exec("echo blip")).stdout).toBe("blip\n");
      await server.stopListening();
      const gone = await timed(sandbox.exec("echo gone"));
      expect(isSandboxError(gone.error, "sandbox_died"), String(gone.error)).toBe(true);
      expect(gone.ms).toBeLessThan(1_000);
      await sandbox.close();
    } finally {
      await hop.kill();
    }
  });

  it("close() during the outage rejects the waiting calls with closed, promptly", async () => {
    const sandbox = await connectSandbox(server.connectOptions());
    await server.stopListening();
    const waiting = [timed(sandbox.exec("echo never")), timed(sandbox.readFile("/etc/hostname"))];
    await sleep(1_000);
    const closedAt = Date.now();
    await sandbox.close();
    for (const call of await Promise.all(waiting)) {
      expect(isSandboxError(call.error, "closed"), String(call.error)).toBe(true);
      expect(call.endedAt - closedAt).toBeLessThan(1_000);
    }
  });

  it("a wait for the connection can be abandoned (get(signal)), and the budget resumes", async () => {
    const connection = new SshConnection(resolveConnectOptions(server.connectOptions()));
    const connected: unknown[] = [];
    connection.onConnected((client) => connected.push(client));
    const first = await connection.get();
    const noticed = new Promise((resolve) => connection.onLost(resolve));
    await server.stopListening();
    await noticed;
    const abandoned = await timed(connection.get(AbortSignal.timeout(700)));
    expect(isSandboxError(abandoned.error, "aborted"), String(abandoned.error)).toBe(true);
    expect(abandoned.ms).toBeGreaterThanOrEqual(600);
    expect(abandoned.ms).toBeLessThan(1_700);
    const lost = await timed(connection.lostError("a test", undefined, AbortSignal.timeout(300)));
    expect(isSandboxError(lost.value, "aborted")).toBe(true);
    // The last waiter leaves and a new call comes in the same tick: it must not inherit the abort.
    const controller = new AbortController();
    const leaving = connection.get(controller.signal);
    controller.abort();
    const arriving = timed(connection.get());
    await expectSandboxError(leaving, "aborted");
    await sleep(500);
    await server.start();
    const arrived = await arriving;
    expect(arrived.error).toBeUndefined();
    const second = await connection.get();
    expect(arrived.value).toBe(second);
    expect(second).not.toBe(first);
    expect(connected).toEqual([first, second]); // onConnected runs for every reconnect
    connection.close();
    await expectSandboxError(connection.get(), "closed");
  });
});
