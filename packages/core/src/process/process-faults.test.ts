// A followed process across a broken path: the connection is cut, or frozen until keepalive
// drops it, while a detached process prints; the handle follows again on the new connection
// from where it was, so its output arrives whole, once, in order, and its exit is reported.
import { randomBytes } from "node:crypto";
import {
  describeWithSshd,
  type Forwarder,
  remainingProcesses,
  type SshdServer,
  startForwarder,
  startSshd,
} from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TransportChoice } from "../agent/agent-transport.js";
import { connectSandbox } from "../index.js";
import type { SandboxProcess } from "../sandbox.js";

const LINES = 60;

/** Reads every stdout line of `process` until its stream ends. */
async function collectLines(process: SandboxProcess, onLine: (count: number) => void): Promise<string[]> {
  let text = "";
  for await (const chunk of process.stdout) {
    text += chunk;
    onLine(text.split("\n").length - 1);
  }
  return text.split("\n").filter((line) => line !== "");
}

function until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error("condition not met in time"));
      else setTimeout(check, 20);
    };
    check();
  });
}

describeWithSshd("a followed detached process when the path breaks", () => {
  let server: SshdServer;
  beforeAll(async () => {
    server = await startSshd();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const faults: Array<[string, (hop: Forwarder) => Promise<void>]> = [
    ["cut", async (hop) => hop.cut()],
    [
      "frozen until keepalive drops the connection",
      async (hop) => {
        const thaw = hop.freeze();
        // 3 unanswered probes at 300 ms: the client gives the connection up after about 1.2 s;
        // new connections are frozen too, so the reconnect waits for the thaw.
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        thaw();
      },
    ],
  ];

  for (const transport of ["agent", "channels"] satisfies TransportChoice[]) {
    describe(`over ${transport}`, () => {
      for (const [name, fault] of faults) {
        it(`output arrives whole, once and in order, and the exit is reported, when ${name}`, async () => {
          const hop = await startForwarder(server);
          const sandbox = await connectSandbox({
            ...server.connectOptions(),
            port: hop.port,
            transport,
            keepaliveIntervalMs: 300,
          });
          const mark = `faults-${randomBytes(4).toString("hex")}`;
          try {
            const process = await sandbox.spawn(
              `: ${mark}; i=1; while [ $i -le ${LINES} ]; do echo "line $i"; i=$((i + 1)); sleep 0.05; done; exit 7`,
              { detached: true, timeoutMs: 120_000 },
            );
            let seen = 0;
            const lines = collectLines(process, (count) => {
              seen = count;
            });
            await until(() => seen >= 5);
            const before = hop.accepted;
            const seenAtFault = seen;
            await fault(hop);
            const result = await process.wait();
            expect(result.exitCode).toBe(7);
            // The fault took: the sandbox dialled again while the process ran.
            expect(hop.accepted).toBeGreaterThan(before);
            expect(seenAtFault).toBeLessThan(LINES / 2);
            const expected = Array.from({ length: LINES }, (_, i) => `line ${i + 1}`);
            expect(await lines).toEqual(expected);
            expect(result.stdout.split("\n").filter((line) => line !== "")).toEqual(expected);
            expect(await remainingProcesses(sandbox, mark)).toBe("");
          } finally {
            await sandbox.close();
            await hop.kill();
          }
        }, 60_000);
      }
    });
  }
});
