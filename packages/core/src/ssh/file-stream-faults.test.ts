// Fault tests for file streams and file signals, on both transports: the path to OpenSSH frozen
// or cut mid-transfer by the testing forwarder. Each records the outcome, code and time, and
// checks the server through a second, direct connection ~2 s later: the file is its old content
// (never partial), no temp file is left, and no server process still holds the file open.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  describeWithSshd,
  type Forwarder,
  openersOf,
  type SshdServer,
  startForwarder,
  startSshd,
  untilClosedEverywhere,
  untilNoTempFiles,
} from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Transport } from "../agent/agent-transport.js";
import { connectSandbox, isSandboxError, type SshSandbox } from "../index.js";

const MiB = 1024 * 1024;
const sleepMs = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Codes a call may end with when the connection under it was cut. */
const CONNECTION_LOSS = ["connection_failed", "sandbox_died", "channel_failed"];

/** How a call ended, and how long after `since` (ms). */
async function outcomeOf(call: Promise<unknown>, since: () => number): Promise<{ code: string; ms: number }> {
  const code = await call.then(
    () => "resolved",
    (error: unknown) => (isSandboxError(error) ? error.code : String(error)),
  );
  return { code, ms: performance.now() - since() };
}

/** Reads until a read does not answer within 300 ms; returns that read, still pending (wrapped: an async function would wait for it). */
async function readUntilStuck(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ stuck: Promise<unknown> }> {
  for (let i = 0; i < 1000; i++) {
    const read = reader.read();
    read.catch(() => {});
    const answered = await Promise.race([read.then((r) => !r.done), sleepMs(300).then(() => false)]);
    if (!answered) return { stuck: read };
  }
  throw new Error("reads never stopped");
}

/** Writes 256 KiB chunks until a write does not answer within 300 ms; returns it and the bytes accepted. */
async function writeUntilStuck(
  writer: WritableStreamDefaultWriter<Uint8Array>,
): Promise<{ stuck: Promise<unknown>; acceptedBytes: number }> {
  let acceptedBytes = 0;
  for (;;) {
    const write = writer.write(randomBytes(256 * 1024));
    write.catch(() => {});
    const answered = await Promise.race([write.then(() => true), sleepMs(300).then(() => false)]);
    if (!answered) return { stuck: write, acceptedBytes };
    acceptedBytes += 256 * 1024;
    if (acceptedBytes > 256 * MiB) throw new Error("writes never pushed back");
  }
}

for (const transport of ["agent", "channels"] satisfies Transport[]) {
  describeWithSshd(`file streams and signals under faults, over ${transport}`, () => {
    let server: SshdServer;
    let hop: Forwarder;
    let sandbox: SshSandbox;
    let checker: SshSandbox;
    let dir: string;
    let local: string;
    const old = randomBytes(1000);

    beforeAll(async () => {
      server = await startSshd();
      hop = await startForwarder(server);
      local = mkdtempSync(join(tmpdir(), "exedev-stream-faults-"));
      sandbox = await connectSandbox({
        ...server.connectOptions(),
        port: hop.port,
        knownHostsPath: join(local, "known_hosts"),
        transport,
      });
      checker = await connectSandbox(server.connectOptions());
      dir = `${checker.homeDir}/stream-faults-${transport}-${randomBytes(3).toString("hex")}`;
      await checker.mkdir(dir, { recursive: true });
      await checker.exec(`head -c ${64 * MiB} /dev/urandom > ${dir}/big.bin`);
    }, 60_000);

    afterAll(async () => {
      await checker?.rm(dir, { recursive: true, force: true }).catch(() => {});
      await sandbox?.close();
      await checker?.close();
      await hop?.kill();
      await server?.stop();
      rmSync(local, { recursive: true, force: true });
    });

    /** The target's content ~2 s after the fault, and the temp files and openers left. */
    async function after(file: string): Promise<{ old: boolean; temps: string[]; openers: string[] }> {
      await sleepMs(2_000);
      const now = Buffer.from(await checker.readFileBuffer(file));
      return {
        old: now.equals(old),
        temps: await untilNoTempFiles(checker, dir, 3_000),
        openers: await untilClosedEverywhere(checker, file, 3_000),
      };
    }

    const log = (fault: string, outcome: { code: string; ms: number }, rest: object): void =>
      console.log(
        `[fault] ${transport} | ${fault} | ${outcome.code} | ${Math.round(outcome.ms)} ms | ${JSON.stringify(rest)}`,
      );

    describe("frozen connection, then abort", () => {
      it("readFileStream: the pending read rejects aborted within 1 s; after the thaw the server closed the file", async () => {
        const controller = new AbortController();
        const reader = (
          await sandbox.readFileStream(`${dir}/big.bin`, { signal: controller.signal })
        ).getReader();
        await reader.read();
        const thaw = hop.freeze();
        try {
          const { stuck } = await readUntilStuck(reader);
          const abortedAt = performance.now();
          controller.abort();
          const outcome = await outcomeOf(stuck, () => abortedAt);
          thaw();
          const openers = await untilClosedEverywhere(checker, `${dir}/big.bin`, 4_000);
          log("freeze mid readFileStream, abort", outcome, { openers: openers.length });
          expect(outcome.code).toBe("aborted");
          expect(outcome.ms).toBeLessThan(1_000);
          expect(openers).toEqual([]);
        } finally {
          thaw();
        }
      });

      it("writeFileStream: writes push back within a few MiB, the blocked write rejects aborted within 1 s, the old content stays", async () => {
        const file = `${dir}/stream-target.bin`;
        await checker.writeFile(file, old);
        const controller = new AbortController();
        const writer = (await sandbox.writeFileStream(file, { signal: controller.signal })).getWriter();
        await writer.write(randomBytes(4 * MiB));
        const thaw = hop.freeze();
        try {
          const { stuck, acceptedBytes } = await writeUntilStuck(writer);
          const abortedAt = performance.now();
          controller.abort();
          const outcome = await outcomeOf(stuck, () => abortedAt);
          thaw();
          const left = await after(file);
          log("freeze mid writeFileStream, abort", outcome, {
            acceptedAfterFreezeMiB: acceptedBytes / MiB,
            ...left,
          });
          expect(outcome.code).toBe("aborted");
          expect(outcome.ms).toBeLessThan(1_000);
          // The channel's window (2 MiB) and the pipeline bound what is taken without the server.
          expect(acceptedBytes).toBeLessThan(16 * MiB);
          expect(left).toEqual({ old: true, temps: [], openers: [] });
        } finally {
          thaw();
        }
      });

      it("writeFileStream: writer.abort() settles within 1 s through the frozen path; the old content stays", async () => {
        const file = `${dir}/writer-abort-target.bin`;
        await checker.writeFile(file, old);
        const writer = (await sandbox.writeFileStream(file)).getWriter();
        await writer.write(randomBytes(4 * MiB));
        const thaw = hop.freeze();
        try {
          const { stuck } = await writeUntilStuck(writer);
          const abortedAt = performance.now();
          const outcome = await outcomeOf(writer.abort(new Error("changed my mind")), () => abortedAt);
          const write = await outcomeOf(stuck, () => abortedAt);
          thaw();
          const left = await after(file);
          log("freeze mid writeFileStream, writer.abort()", outcome, { write: write.code, ...left });
          expect(outcome.code).toBe("resolved");
          expect(outcome.ms).toBeLessThan(1_000);
          expect(write.code).not.toBe("resolved");
          expect(left).toEqual({ old: true, temps: [], openers: [] });
        } finally {
          thaw();
        }
      });

      for (const method of ["writeFile", "uploadFile"] as const) {
        it(`${method}: rejects aborted within 1 s through the frozen path; the old content stays, no temp file`, async () => {
          const file = `${dir}/${method}-target.bin`;
          await checker.writeFile(file, old);
          const data = randomBytes(32 * MiB);
          writeFileSync(join(local, "up.bin"), data);
          const controller = new AbortController();
          const call =
            method === "writeFile"
              ? sandbox.writeFile(file, data, { signal: controller.signal })
              : sandbox.uploadFile(join(local, "up.bin"), file, { signal: controller.signal });
          call.catch(() => {});
          await sleepMs(50);
          const thaw = hop.freeze();
          try {
            await sleepMs(300);
            const abortedAt = performance.now();
            controller.abort();
            const outcome = await outcomeOf(call, () => abortedAt);
            thaw();
            const left = await after(file);
            log(`freeze mid ${method}, abort`, outcome, left);
            expect(outcome.code).toBe("aborted");
            expect(outcome.ms).toBeLessThan(1_000);
            expect(left).toEqual({ old: true, temps: [], openers: [] });
          } finally {
            thaw();
          }
        });
      }
    });

    describe("cut connection", () => {
      it("readFileStream: the stream errors with a connection code; the server closed the file", async () => {
        const reader = (await sandbox.readFileStream(`${dir}/big.bin`)).getReader();
        await reader.read();
        const cutAt = performance.now();
        hop.cut();
        const outcome = await outcomeOf(
          (async () => {
            for (;;) if ((await reader.read()).done) return;
          })(),
          () => cutAt,
        );
        const openers = await untilClosedEverywhere(checker, `${dir}/big.bin`, 4_000);
        log("cut mid readFileStream", outcome, { openers: openers.length });
        expect(CONNECTION_LOSS).toContain(outcome.code);
        expect(outcome.ms).toBeLessThan(10_000);
        expect(openers).toEqual([]);
        expect(await sandbox.exists(`${dir}/big.bin`)).toBe(true); // it reconnects
      });

      it("writeFileStream: the write or close rejects with a connection code; the old content stays, no temp file after the reconnect", async () => {
        const file = `${dir}/cut-target.bin`;
        await checker.writeFile(file, old);
        const writer = (await sandbox.writeFileStream(file)).getWriter();
        await writer.write(randomBytes(2 * MiB));
        const cutAt = performance.now();
        hop.cut();
        const outcome = await outcomeOf(
          (async () => {
            for (let i = 0; i < 64; i++) await writer.write(randomBytes(256 * 1024));
            await writer.close();
          })(),
          () => cutAt,
        );
        // The channels transport removes its temp file once it is connected again.
        expect(await sandbox.exists(file)).toBe(true);
        const left = await after(file);
        log("cut mid writeFileStream", outcome, left);
        expect(CONNECTION_LOSS).toContain(outcome.code);
        expect(outcome.ms).toBeLessThan(10_000);
        expect(left).toEqual({ old: true, temps: [], openers: [] });
      });
    });

    it("still reads whole files through the hop afterwards", async () => {
      expect((await openersOf(checker, `${dir}/big.bin`)).length).toBe(0);
      expect((await sandbox.readFileBuffer(`${dir}/big.bin`, { maxBytes: 128 * MiB })).length).toBe(64 * MiB);
    });
  });
}
