// Fault tests for exec: deadlines, kills and channel limits against real servers (OpenSSH as root
// and as an unprivileged user, Dropbear), with the path cut or frozen by the testing forwarder.
// Each records the call's outcome, code, duration and what is left on the server 2 s later.
import { randomBytes } from "node:crypto";
import {
  describeWithSshd,
  findDropbear,
  remainingProcesses,
  type SshdServer,
  startDropbear,
  startForwarder,
  startSshd,
  type TestSshServer,
  UNPRIVILEGED_TEST_USER,
} from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectSandbox, isSandboxError, type SshSandbox } from "../index.js";

const sleepMs = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const newTag = () => `exf${randomBytes(5).toString("hex")}`;

interface Outcome {
  outcome: "resolved" | "rejected";
  code: string | number;
  durationMs: number;
}

/** Runs `call`, returning how it ended and how long it took. */
async function measure(call: Promise<{ exitCode: number }>): Promise<Outcome> {
  const started = performance.now();
  try {
    const result = await call;
    return { outcome: "resolved", code: result.exitCode, durationMs: performance.now() - started };
  } catch (error) {
    return {
      outcome: "rejected",
      code: isSandboxError(error) ? error.code : String(error),
      durationMs: performance.now() - started,
    };
  }
}

/** What is left 2 s after the fault, by tag; logged as one row of the fault table. */
async function leftAfter(checker: SshSandbox, tag: string, fault: string, outcome: Outcome): Promise<string> {
  await sleepMs(2_000);
  const left = await remainingProcesses(checker, tag);
  console.log(
    `[fault] ${fault} | ${outcome.outcome} ${outcome.code} | ${Math.round(outcome.durationMs)} ms | left: ${left === "" ? 0 : left.split("\n").length}`,
  );
  return left;
}

/** Waits until the checker sees a process with `tag` (the command really started). */
async function untilRunning(checker: SshSandbox, tag: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { stdout } = await checker.exec(`ps -eo args= | grep -F -- ${tag} | grep -v grep || true`);
    if (stdout.trim() !== "") return;
    await sleepMs(50);
  }
  throw new Error(`command with ${tag} never started`);
}

/**
 * A command whose children leave its process group in every way a shell offers: job control,
 * setsid, perl's and python's setpgrp. Every process carries `tag` in its arguments.
 */
function escapingCommand(tag: string): string {
  return [
    "set -m",
    `sh -c 'sleep 300; true' ${tag}-jobs &`,
    `setsid sh -c 'sleep 300; true' ${tag}-setsid &`,
    `perl -e 'setpgrp(0, 0); sleep 300' ${tag}-perl &`,
    `/usr/bin/python3 -c 'import os, time; os.setpgrp(); time.sleep(300)' ${tag}-python &`,
    `sh -c 'sleep 300; true' ${tag}-fg`,
  ].join("\n");
}

interface Server {
  name: string;
  start: () => Promise<TestSshServer>;
}

const servers: Server[] = [
  { name: "OpenSSH as root", start: () => startSshd() },
  { name: "OpenSSH as an unprivileged user", start: () => startSshd({ username: UNPRIVILEGED_TEST_USER }) },
  ...(findDropbear() ? [{ name: "Dropbear", start: () => startDropbear() }] : []),
];

// Both transports keep the same promises under faults: the agent kills through its own channel,
// the channels with a kill command on another one.
const transports = [{ transport: "agent" as const }, { transport: "channels" as const }];

describeWithSshd("exec deadlines and kills on real servers", () => {
  describe.each(servers.flatMap((server) => transports.map((t) => ({ ...server, ...t }))))(
    "$name over $transport",
    ({ name, start, transport }) => {
      let server: TestSshServer;
      let sandbox: SshSandbox;
      let checker: SshSandbox;
      beforeAll(async () => {
        server = await start();
        sandbox = await connectSandbox({ ...server.connectOptions(), transport });
        checker = await connectSandbox({ ...server.connectOptions(), transport: "channels" });
      });
      afterAll(async () => {
        await sandbox?.close();
        await checker?.close();
        await server?.stop();
      });

      it("times out a command whose children made their own groups and sessions, and kills them all", async () => {
        const tag = newTag();
        const result = sandbox.exec(escapingCommand(tag), { timeoutMs: 1_500 });
        const outcome = await measure(result);
        expect(outcome).toMatchObject({ outcome: "resolved", code: 124 });
        expect((await result).timedOut).toBe(true);
        expect(outcome.durationMs).toBeLessThan(2_500);
        expect(await leftAfter(checker, tag, `${name}: timeout, children in own groups`, outcome)).toBe("");
      });

      it("aborts within 1 s and kills the command", async () => {
        const tag = newTag();
        const controller = new AbortController();
        const call = sandbox.exec(escapingCommand(tag), { signal: controller.signal });
        await untilRunning(checker, tag);
        const aborted = performance.now();
        controller.abort();
        const outcome = await measure(call);
        expect(outcome).toMatchObject({ outcome: "rejected", code: "aborted" });
        expect(performance.now() - aborted).toBeLessThan(1_000);
        expect(await leftAfter(checker, tag, `${name}: abort`, outcome)).toBe("");
      });

      it("keeps the deadline of a short timeoutMs", async () => {
        const tag = newTag();
        const outcome = await measure(sandbox.exec(`sh -c 'sleep 30; true' ${tag}`, { timeoutMs: 700 }));
        expect(outcome).toMatchObject({ outcome: "resolved", code: 124 });
        expect(outcome.durationMs).toBeLessThan(1_700);
        expect(await leftAfter(checker, tag, `${name}: timeoutMs 700`, outcome)).toBe("");
        expect((await sandbox.exec("echo still")).stdout).toBe("still\n");
      });
    },
  );
});

describeWithSshd("exec faults on the network path", () => {
  describe.each(transports)("over $transport", ({ transport }) => {
    let server: SshdServer;
    let checker: SshSandbox;
    beforeAll(async () => {
      server = await startSshd();
      checker = await connectSandbox(server.connectOptions());
    });
    afterAll(async () => {
      await checker?.close();
      await server?.stop();
    });

    async function viaHop() {
      const hop = await startForwarder(server);
      const sandbox = await connectSandbox({ ...server.connectOptions(), port: hop.port, transport });
      return { hop, sandbox };
    }

    it("cut, then abort: rejects aborted at once, and the command is killed once a connection is back", async () => {
      const { hop, sandbox } = await viaHop();
      try {
        const tag = newTag();
        const controller = new AbortController();
        const call = sandbox.exec(escapingCommand(tag), { signal: controller.signal });
        await untilRunning(checker, tag);
        hop.cut();
        controller.abort();
        const outcome = await measure(call);
        expect(outcome).toMatchObject({ outcome: "rejected", code: "aborted" });
        expect(outcome.durationMs).toBeLessThan(1_000);
        // A call racing the cut may learn of it itself (connection_failed, its fate unknown).
        await sandbox
          .exec("true")
          .catch((error) => expect(isSandboxError(error, "connection_failed")).toBe(true));
        expect((await sandbox.exec("echo back")).stdout).toBe("back\n"); // the connection is back
        expect(await leftAfter(checker, tag, "cut then abort", outcome)).toBe("");
      } finally {
        await sandbox.close();
        await hop.kill();
      }
    });

    it("a command running when the connection drops is killed on reconnect", async () => {
      const { hop, sandbox } = await viaHop();
      try {
        const tag = newTag();
        const call = sandbox.exec(escapingCommand(tag));
        await untilRunning(checker, tag);
        hop.cut();
        const outcome = await measure(call);
        expect(outcome).toMatchObject({ outcome: "rejected", code: "connection_failed" });
        expect(await leftAfter(checker, tag, "cut while running", outcome)).toBe("");
      } finally {
        await sandbox.close();
        await hop.kill();
      }
    });

    it("freeze, timeout, thaw: the deadline holds on a frozen path, and the kill happens after the thaw", async () => {
      const { hop, sandbox } = await viaHop();
      try {
        const tag = newTag();
        const call = sandbox.exec(escapingCommand(tag), { timeoutMs: 3_000 });
        await untilRunning(checker, tag);
        const thaw = hop.freeze();
        const outcome = await measure(call);
        expect(outcome).toMatchObject({ outcome: "resolved", code: 124 });
        expect(outcome.durationMs).toBeLessThan(4_000);
        thaw();
        expect((await sandbox.exec("echo thawed", { timeoutMs: 20_000 })).stdout).toBe("thawed\n");
        expect(await leftAfter(checker, tag, "freeze, timeout, thaw", outcome)).toBe("");
      } finally {
        await sandbox.close();
        await hop.kill();
      }
    });

    it("a deadline passes on a frozen path even before the command could start", async () => {
      const { hop, sandbox } = await viaHop();
      try {
        const thaw = hop.freeze();
        const outcome = await measure(sandbox.exec("echo never", { timeoutMs: 800 }));
        expect(outcome).toMatchObject({ outcome: "resolved", code: 124 });
        expect(outcome.durationMs).toBeLessThan(1_800);
        thaw();
      } finally {
        await sandbox.close();
        await hop.kill();
      }
    });
  });
});

describeWithSshd("channel limits", () => {
  it("maxChannels 2 never deadlocks between the SFTP session and exec", async () => {
    const server = await startSshd();
    try {
      const sandbox = await connectSandbox({
        ...server.connectOptions(),
        maxChannels: 2,
        transport: "channels",
      });
      const path = `${sandbox.homeDir}/max-channels-2`;
      const started = performance.now();
      for (let round = 0; round < 5; round++) {
        await sandbox.writeFile(path, `round ${round}`);
        expect((await sandbox.exec(`cat ${path}`, { timeoutMs: 10_000 })).stdout).toBe(`round ${round}`);
        expect(await sandbox.readFile(path)).toBe(`round ${round}`);
      }
      const mixed = await Promise.all([
        sandbox.exec("echo a", { timeoutMs: 10_000 }),
        sandbox.readFile(path),
        sandbox.exec("echo b", { timeoutMs: 10_000 }),
        sandbox.stat(path),
      ]);
      expect(mixed[0].stdout).toBe("a\n");
      expect(mixed[2].stdout).toBe("b\n");
      expect(performance.now() - started).toBeLessThan(15_000);
      await sandbox.close();
    } finally {
      await server.stop();
    }
  });

  it("MaxSessions 3 with the default maxChannels: timed-out commands are killed and deadlines hold", async () => {
    const server = await startSshd({ maxSessions: 3 });
    try {
      const sandbox = await connectSandbox({ ...server.connectOptions(), transport: "channels" });
      const checker = await connectSandbox({ ...server.connectOptions(), transport: "channels" });
      await sandbox.writeFile(`${sandbox.homeDir}/sessions-probe`, "x"); // SFTP holds one of the 3
      const tag = newTag();
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          sandbox.exec(`sh -c 'sleep 300; true' ${tag}-${i}`, { timeoutMs: 500 }),
        ),
      );
      const durationMs = performance.now() - started;
      expect(results.map((r) => r.exitCode)).toEqual([124, 124, 124, 124, 124, 124]);
      expect(durationMs).toBeLessThan(1_500);
      const outcome: Outcome = { outcome: "resolved", code: 124, durationMs };
      expect(await leftAfter(checker, tag, "MaxSessions 3, 6 x timeoutMs 500", outcome)).toBe("");
      expect((await sandbox.exec("echo after", { timeoutMs: 10_000 })).stdout).toBe("after\n");
      await sandbox.close();
      await checker.close();
    } finally {
      await server.stop();
    }
  });
});

describeWithSshd("command-line size", () => {
  it("rejects a command line over the OpenSSH bound before sending, without hurting calls in flight", async () => {
    const server = await startSshd();
    try {
      const sandbox = await connectSandbox({ ...server.connectOptions(), transport: "channels" });
      const inFlight = sandbox.exec("sleep 0.5; echo fine");
      const error = await sandbox.exec(`echo ${"a".repeat(256 * 1024)}`).catch((e) => e);
      expect(isSandboxError(error, "invalid_argument")).toBe(true);
      expect(error.message).toContain(String(120 * 1024));
      expect(error.message).not.toContain("aaaa");
      const withEnv = await sandbox.exec("true", { env: { BIG: "b".repeat(121 * 1024) } }).catch((e) => e);
      expect(isSandboxError(withEnv, "invalid_argument")).toBe(true);
      expect((await inFlight).stdout).toBe("fine\n");
      const large = await sandbox.exec(`echo ${"a".repeat(100 * 1024)} | wc -c`);
      expect(large.stdout.trim()).toBe(String(100 * 1024 + 1));
      await sandbox.close();
    } finally {
      await server.stop();
    }
  });

  it.runIf(findDropbear())("uses Dropbear's lower bound", async () => {
    const server = await startDropbear();
    try {
      const sandbox = await connectSandbox({ ...server.connectOptions(), transport: "channels" });
      const inFlight = sandbox.exec("sleep 0.5; echo fine");
      await expect(sandbox.exec(`echo ${"a".repeat(9_000)}`)).rejects.toMatchObject({
        code: "invalid_argument",
      });
      expect((await sandbox.exec(`echo ${"a".repeat(8_000)} | wc -c`)).stdout.trim()).toBe("8001");
      expect((await inFlight).stdout).toBe("fine\n");
      await sandbox.close();
    } finally {
      await server.stop();
    }
  });
});
