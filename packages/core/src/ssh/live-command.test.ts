// The live-command primitive against a real sshd, on both transports: stdin stays open, output
// arrives as it is printed, end() gives EOF, kill() kills the whole tree.
import { describeWithSshd, remainingProcesses, useSshd } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Transport } from "../agent/agent-transport.js";
import { isSandboxError } from "../errors.js";
import { connectSandbox } from "../index.js";
import { type LiveCommand, startLiveCommand } from "./live-command.js";
import { execContextOf, type SshSandbox } from "./ssh-sandbox.js";

/** Collects a stream's bytes and lets a test wait for some text in it. */
class Sink {
  bytes = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  readonly push = (chunk: Buffer): void => {
    this.bytes = Buffer.concat([this.bytes, chunk]);
    for (const wake of this.waiters.splice(0)) wake();
  };
  get text(): string {
    return this.bytes.toString("utf8");
  }
  async until(needle: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.text.includes(needle)) {
      if (Date.now() > deadline)
        throw new Error(`never saw ${JSON.stringify(needle)} in ${JSON.stringify(this.text)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }
}

for (const transport of ["agent", "channels"] satisfies Transport[]) {
  describeWithSshd(`startLiveCommand over ${transport}`, () => {
    const sshd = useSshd();
    let sandbox: SshSandbox;
    const running: LiveCommand[] = [];

    beforeAll(async () => {
      sandbox = await connectSandbox({ ...(await sshd()).connectOptions(), transport });
      expect(sandbox.transport).toBe(transport);
    });
    afterAll(async () => {
      for (const command of running) command.kill();
      await sandbox?.close();
    });

    const start = async (command: string, extra: { cwd?: string; env?: Record<string, string> } = {}) => {
      const stdout = new Sink();
      const stderr = new Sink();
      const live = await startLiveCommand(execContextOf(sandbox), command, {
        ...extra,
        onStdout: stdout.push,
        onStderr: stderr.push,
      });
      running.push(live);
      return { live, stdout, stderr };
    };

    it("round-trips stdin through cat while it runs, and end() gives EOF and the exit code", async () => {
      const { live, stdout, stderr } = await start("cat; echo done >&2; exit 7");
      await live.write(Buffer.from("first\n"));
      await stdout.until("first\n");
      // The command is still running: a second write reaches the same process.
      await live.write(Buffer.from([0xff, 0x00, 0x0a]));
      await stdout.until("\n", 10_000);
      await live.write(Buffer.from("second\n"));
      await stdout.until("second\n");
      expect(stdout.bytes).toEqual(
        Buffer.concat([Buffer.from("first\n"), Buffer.from([0xff, 0, 0x0a]), Buffer.from("second\n")]),
      );
      live.end();
      expect(await live.exit).toBe(7);
      expect(stderr.text).toBe("done\n"); // the pid marker is stripped
      const error = await live.write(Buffer.from("late")).catch((rejection: unknown) => rejection);
      expect(isSandboxError(error, "closed")).toBe(true);
    });

    it("reports the command shell's pid, cwd and env as exec does", async () => {
      const { live, stdout } = await start('echo "$$ $(pwd) $V $EXEDEV_RUN"; cat', {
        cwd: "/tmp",
        env: { V: "it's" },
      });
      await stdout.until("\n");
      const pid = await live.pid;
      expect(stdout.text).toBe(`${pid} /tmp it's ${live.tag}\n`);
      live.end();
      expect(await live.exit).toBe(0);
    });

    it("kill() kills the whole tree, including a child that left the group", async () => {
      const { live, stdout } = await start("setsid sleep 300 & sleep 301 & echo started; cat");
      await stdout.until("started");
      const ps = await sandbox.exec(`grep -l -a -F -e 'EXEDEV_RUN=${live.tag}' /proc/[0-9]*/environ | wc -l`);
      expect(Number(ps.stdout.trim())).toBeGreaterThanOrEqual(3);
      const started = performance.now();
      live.kill();
      const code = await live.exit;
      expect(performance.now() - started).toBeLessThan(8_000);
      // Killed by a signal (a channel closed by the server after the kill may carry no status).
      if (code !== undefined) expect(code).toBeGreaterThan(128);
      expect(await remainingProcesses(sandbox, live.tag)).toBe("");
      const left = await sandbox.exec(
        `grep -l -a -F -e 'EXEDEV_RUN=${live.tag}' /proc/[0-9]*/environ 2>/dev/null | wc -l`,
      );
      expect(left.stdout.trim()).toBe("0");
    });

    it("passes large input through in order, minding the window", async () => {
      const { live, stdout } = await start("sha256sum | cut -c1-16");
      const data = Buffer.alloc(3 * 1024 * 1024 + 17, 0x61);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
      await live.write(data);
      live.end();
      expect(await live.exit).toBe(0);
      const { createHash } = await import("node:crypto");
      expect(stdout.text.trim()).toBe(createHash("sha256").update(data).digest("hex").slice(0, 16));
    });

    it("checks its options before any I/O", async () => {
      const context = execContextOf(sandbox);
      const noop = () => {};
      for (const bad of [
        () => startLiveCommand(context, "", { onStdout: noop, onStderr: noop }),
        () => startLiveCommand(context, "true", { cwd: "relative", onStdout: noop, onStderr: noop }),
        () => startLiveCommand(context, "true", { env: { "A B": "x" }, onStdout: noop, onStderr: noop }),
        () => startLiveCommand(context, "true", { tag: "x y", onStdout: noop, onStderr: noop }),
        () => startLiveCommand(context, "true", { onStdout: noop } as never),
      ]) {
        const error = await bad().catch((rejection: unknown) => rejection);
        expect(isSandboxError(error, "invalid_argument"), String(error)).toBe(true);
      }
    });
  });
}

describe("live-command module", () => {
  it("is not exported from the package root", async () => {
    const root = await import("../index.js");
    expect("startLiveCommand" in root).toBe(false);
  });
});
