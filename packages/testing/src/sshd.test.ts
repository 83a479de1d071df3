import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { connectSandbox } from "@exedev-sandbox/core";
import { expect, it } from "vitest";
import { describeWithSshd } from "./gate.ts";
import { startSshd } from "./sshd.ts";

/** Whether something accepts TCP connections on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function listenerPid(dir: string): number {
  // sshd -D writes its pid file once it listens.
  return Number(readFileSync(`${dir}/sshd.pid`, "utf8").trim());
}

function pgrep(pattern: string): number | undefined {
  try {
    return Number(execFileSync("pgrep", ["-f", "--", pattern], { encoding: "utf8" }).split("\n")[0]);
  } catch {
    return undefined; // exit 1: no match
  }
}

/** Whether `pid` runs (a zombie, waiting for a parent that may never reap it, does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describeWithSshd("startSshd", () => {
  it("stop() returns when sshd already died from a signal, and ends its connections", async () => {
    const server = await startSshd();
    const sandbox = await connectSandbox({ ...server.connectOptions(), reconnectMs: 0 });
    const marker = `${process.pid}${Date.now() % 100_000}.5`;
    const running = sandbox.exec(`sleep ${marker}`);
    running.catch(() => {});
    const sleeper = async () => {
      for (let i = 0; i < 100; i++) {
        const pid = pgrep(`sleep ${marker}`);
        if (pid) return pid;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error("the command never started");
    };
    const pid = await sleeper();
    const listener = listenerPid(server.dir);
    process.kill(listener, "SIGKILL");
    // Gone from /proc once this process reaped it, i.e. after Node saw the exit: the case where
    // waiting for a later "exit" event hung.
    while (existsSync(`/proc/${listener}`)) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(alive(pid)).toBe(true); // a killed listener leaves its connections running
    const started = Date.now();
    await server.stop();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(existsSync(server.dir)).toBe(false);
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(alive(pid)).toBe(false);
    await sandbox.close();
  });

  it("restarts on the same port with the same host key", async () => {
    const server = await startSshd();
    try {
      const before = await connectSandbox({ ...server.connectOptions(), reconnectMs: 0 });
      expect((await before.exec("echo one")).stdout).toBe("one\n");
      await before.close();
      await server.stopListening();
      expect(await listening(server.port)).toBe(false);
      await server.start();
      expect(await listening(server.port)).toBe(true);
      // Pinned to the host key fingerprint: a new key would be refused.
      const after = await connectSandbox({
        ...server.connectOptions(),
        hostKey: { sha256: server.hostKeyFingerprint },
      });
      expect((await after.exec("echo two")).stdout).toBe("two\n");
      await after.close();
      await server.restart(200);
      expect(await listening(server.port)).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
