import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import type { Sandbox, SandboxProcess } from "@exedev-sandbox/core";
import { describe, expect, it } from "vitest";
import { remainingProcesses } from "./remote-processes.ts";

/** What the process contract needs of the suite around it. */
export interface ProcessContractContext {
  /** The sandbox under test (created by the surrounding suite). */
  sandbox(): Sandbox;
  /** Opens another sandbox on the same server and login (closed by the test that opened it). */
  another?(): Promise<Sandbox>;
  /**
   * Run the heavy cases (200 concurrent processes). They cost seconds, so only a few
   * server/transport combinations run them.
   * @default false
   */
  heavy?: boolean;
}

/** Debian's python3 when there is one: the servers' default PATH may lack another. */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const sleepMs = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A sleep duration no other test uses, so `ps` finds exactly this test's process by it. */
const uniqueSleep = (): string => `7${randomBytes(3).readUIntBE(0, 3)}.5`;

/** The code of what `promise` rejected with (or "resolved"), and how long it took. */
async function settle(promise: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const started = performance.now();
  const code = await promise.then(
    () => "resolved",
    (error: unknown) => String((error as { code?: unknown })?.code ?? error),
  );
  return { code, ms: performance.now() - started };
}

/** Everything an iterable yields, joined. */
async function collect(iterable: AsyncIterable<string>): Promise<string> {
  let text = "";
  for await (const chunk of iterable) text += chunk;
  return text;
}

/** Waits until `ps` on `sandbox` shows a process with `marker` in its command line. */
async function untilRunning(sandbox: Sandbox, marker: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { stdout } = await sandbox.exec(`ps -eo args= | grep -F -- '${marker}' | grep -v grep || true`);
    if (stdout.trim() !== "") return;
    await sleepMs(50);
  }
  throw new Error(`no process with ${marker} ever ran`);
}

/** Registers the spawn/attach/list/waitFor cases (issue 17) every transport must pass. */
export function defineProcessContract(context: ProcessContractContext): void {
  describe("processes", () => {
    const sandbox = (): Sandbox => context.sandbox();
    const spawned: SandboxProcess[] = [];
    const spawn = async (command: string, options?: Parameters<Sandbox["spawn"]>[1]) => {
      const process = await sandbox().spawn(command, options);
      spawned.push(process);
      return process;
    };

    it("round-trips stdin through cat while it runs; closeStdin ends it", async () => {
      const cat = await spawn("cat");
      expect(cat.pid).toBeGreaterThan(1);
      expect(cat.id).toMatch(/^[A-Za-z0-9_-]+$/);
      await cat.write("first line\n");
      expect(await sandbox().waitForOutput(cat, "first line\n", { stream: "stdout" })).toBe("first line\n");
      await cat.write(new Uint8Array([0xe2, 0x82]));
      await cat.write(new Uint8Array([0xac, 0x0a])); // "€\n" split across two writes
      await cat.closeStdin();
      await cat.closeStdin(); // twice is fine
      const result = await cat.wait();
      expect(result).toMatchObject({ exitCode: 0, stdout: "first line\n€\n", stderr: "", timedOut: false });
      expect(await settle(cat.write("late"))).toMatchObject({ code: "closed" });
    });

    it("keeps a python3 -i session's state between writes", async () => {
      const python = await spawn(`${PYTHON} -i -q -u`);
      await python.write("x = 6 * 7\n");
      await python.write("print(x)\n");
      expect(await sandbox().waitForOutput(python, /\d+\n/, { stream: "stdout" })).toBe("42\n");
      await python.write("print(x + 1)\n");
      await sandbox().waitForOutput(python, "43\n", { stream: "stdout" });
      await python.closeStdin();
      const result = await python.wait();
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toBe("42\n43\n");
    });

    it("reports exit codes, both streams apart, and the same bytes through every view", async () => {
      const process = await spawn("printf 'out\\n'; printf 'err\\n' >&2; exit 5", {
        env: { UNUSED: "x" },
        cwd: "/tmp",
      });
      const [stdout, stderr, stdoutBytes] = await Promise.all([
        collect(process.stdout),
        collect(process.stderr),
        (async () => {
          const chunks: Uint8Array[] = [];
          for await (const chunk of process.stdoutBytes) chunks.push(chunk);
          return Buffer.concat(chunks).toString("utf8");
        })(),
      ]);
      expect({ stdout, stderr, stdoutBytes }).toEqual({
        stdout: "out\n",
        stderr: "err\n",
        stdoutBytes: "out\n",
      });
      const result = await process.wait();
      expect(result).toMatchObject({ exitCode: 5, stdout: "out\n", stderr: "err\n", truncated: false });
      expect(await process.output()).toEqual({ stdout: "out\n", stderr: "err\n", truncated: false });
      await expect((await spawn("pwd")).wait()).resolves.toMatchObject({
        exitCode: 0,
        stdout: `${sandbox().homeDir}\n`,
      });
      expect((await (await spawn("pwd", { cwd: "/tmp" })).wait()).stdout).toBe("/tmp\n");
    });

    it("keeps only the newest maxOutputBytes in output() and wait()", async () => {
      const process = await spawn("seq 1 20000", { maxOutputBytes: 100 });
      const result = await process.wait();
      expect(result.exitCode).toBe(0);
      expect(result.truncated).toBe(true);
      expect(result.stdout.length).toBeLessThanOrEqual(100);
      expect(result.stdout.endsWith("19999\n20000\n")).toBe(true);
    });

    it("kills the whole tree with kill(), and sends other signals to the group", async () => {
      const marker = uniqueSleep();
      const process = await spawn(`sleep ${marker} & setsid sleep ${marker} & echo started; wait`);
      await sandbox().waitForOutput(process, "started");
      await untilRunning(sandbox(), `sleep ${marker}`);
      const killed = await settle(process.kill());
      expect(killed.code).toBe("resolved");
      expect((await process.wait()).exitCode).toBe(137);
      expect(await remainingProcesses(sandbox(), `sleep ${marker}`)).toBe("");
      await process.kill(); // an exited process is left alone

      const term = await spawn("trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done");
      await sandbox().waitForOutput(term, "ready");
      await term.kill("SIGTERM");
      expect(await term.wait()).toMatchObject({ exitCode: 3, stdout: "ready\ngot TERM\n" });
    });

    it("kills a process at its timeoutMs on the VM: 124, timedOut", async () => {
      const marker = uniqueSleep();
      const process = await spawn(`sleep ${marker}`, { timeoutMs: 500 });
      const result = await process.wait();
      expect(result).toMatchObject({ exitCode: 124, timedOut: true });
      expect(result.durationMs).toBeGreaterThanOrEqual(400);
      expect(result.durationMs).toBeLessThan(5_000);
      expect(await remainingProcesses(sandbox(), `sleep ${marker}`)).toBe("");
    });

    it("waitForOutput: a match, what was printed before counts, a timeout, an exit without match", async () => {
      const process = await spawn("echo 'listening on port 8123'; sleep 30");
      await sleepMs(300);
      expect(await sandbox().waitForOutput(process, /port (\d+)/g)).toBe("port 8123");
      expect(await sandbox().waitForOutput(process, /port (\d+)/g)).toBe("port 8123"); // lastIndex ignored
      const quiet = await settle(sandbox().waitForOutput(process, "never", { timeoutMs: 300 }));
      expect(quiet.code).toBe("timeout");
      expect(quiet.ms).toBeGreaterThanOrEqual(250);
      expect(quiet.ms).toBeLessThan(1_300);
      const short = await spawn("echo bye");
      expect((await settle(sandbox().waitForOutput(short, "hello"))).code).toBe("closed");
      await process.kill();
    });

    it("waitForPort resolves once a server listens, and times out on a closed port", async () => {
      const port = 20_000 + (randomBytes(2).readUInt16BE(0) % 30_000);
      const server = await spawn(`exec ${PYTHON} -m http.server --bind 127.0.0.1 ${port}`);
      await sandbox().waitForPort(port, { timeoutMs: 15_000 });
      const page = await sandbox().exec(`curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${port}/`);
      expect(page.stdout).toBe("200");
      await server.kill();
      await server.wait();
      const closed = await settle(sandbox().waitForPort(port, { timeoutMs: 500 }));
      expect(closed.code).toBe("timeout");
      expect(closed.ms).toBeGreaterThanOrEqual(450);
      expect(closed.ms).toBeLessThan(8_000);
    });

    it("checks arguments before any I/O, and rejects an unknown id with not_found", async () => {
      const s = sandbox();
      const bad: Array<Promise<unknown>> = [
        s.spawn(""),
        s.spawn("true", { cwd: "relative" }),
        s.spawn("true", { detached: "yes" as never }),
        s.spawn("true", { maxOutputBytes: 0 }),
        s.spawn("true", { timeoutMs: -1 }),
        s.spawn("true", { env: { "NOT A NAME": "x" } }),
        s.attachProcess("../etc"),
        s.waitForPort(0),
        s.waitForPort(70_000),
        s.waitForPort(80, { timeoutMs: -5 }),
      ];
      for (const call of bad) expect((await settle(call)).code).toBe("invalid_argument");
      expect((await settle(s.attachProcess("p-000000000000000000000000"))).code).toBe("not_found");
    });

    it.skipIf(!context.another)("kills a process that is not detached when its sandbox closes", async () => {
      const other = await (context.another as () => Promise<Sandbox>)();
      const marker = uniqueSleep();
      try {
        const process = await other.spawn(`sleep ${marker} & sleep ${marker}; wait`);
        expect(process.detached).toBe(false);
        await untilRunning(sandbox(), `sleep ${marker}`);
      } finally {
        await other.close();
      }
      expect(await remainingProcesses(sandbox(), `sleep ${marker}`)).toBe("");
    });

    it.skipIf(!context.another)(
      "keeps a detached process past its sandbox's close: listed and attached from another, with its output meanwhile",
      async () => {
        const other = await (context.another as () => Promise<Sandbox>)();
        const marker = uniqueSleep();
        let id: string;
        try {
          const process = await other.spawn(
            `echo one; sleep 0.5; echo two >&2; echo three; sleep ${marker}`,
            // The deadline is only a safety net: a failing run must not leave it running for ever.
            { detached: true, timeoutMs: 120_000 },
          );
          expect(process.detached).toBe(true);
          id = process.id;
          await other.waitForOutput(process, "one");
        } finally {
          await other.close();
        }
        await sleepMs(700);
        await untilRunning(sandbox(), `sleep ${marker}`);
        const listed = (await sandbox().listProcesses()).find((entry) => entry.id === id);
        expect(listed).toMatchObject({
          id,
          detached: true,
          running: true,
          exitCode: undefined,
          endedAt: undefined,
        });
        expect(listed?.command).toContain(`sleep ${marker}`);
        const attached = await sandbox().attachProcess(id);
        expect(attached).toMatchObject({ id, detached: true, pid: listed?.pid });
        await sandbox().waitForOutput(attached, "three");
        expect(await attached.output()).toMatchObject({ stdout: "one\nthree\n", stderr: "two\n" });
        await attached.kill();
        expect((await attached.wait()).exitCode).toBe(137);
        expect(await remainingProcesses(sandbox(), `sleep ${marker}`)).toBe("");
        const after = (await sandbox().listProcesses()).find((entry) => entry.id === id);
        expect(after).toMatchObject({ running: false, exitCode: 137 });
        expect(after?.endedAt).toBeInstanceOf(Date);
      },
    );

    it.skipIf(!context.heavy)("runs 200 processes at once", { timeout: 120_000 }, async () => {
      const count = 200;
      const started = performance.now();
      const processes = await Promise.all(
        Array.from({ length: count }, (_, i) => spawn(`read line; echo "$line ${i}"`)),
      );
      await Promise.all(processes.map((process, i) => process.write(`hello\n`).then(() => void i)));
      const results = await Promise.all(processes.map((process) => process.wait()));
      results.forEach((result, i) => {
        expect(result).toMatchObject({ exitCode: 0, stdout: `hello ${i}\n` });
      });
      expect(new Set(processes.map((process) => process.pid)).size).toBe(count);
      console.log(
        `[processes] ${count} concurrent spawn+write+wait: ${Math.round(performance.now() - started)} ms`,
      );
    });
  });
}
