import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import type { Sandbox, SandboxErrorCode } from "@exedev-sandbox/core";
import { describe, expect, it } from "vitest";

/** What the stream contract needs of the suite around it. */
export interface FileStreamContractContext {
  /** The sandbox under test (created by the surrounding suite). */
  sandbox(): Sandbox;
  /** A path in the suite's scratch directory on the machine. */
  path(...parts: string[]): string;
}

const MiB = 1024 * 1024;
/** Bigger than every buffer on the way (agent window 1 MiB, SFTP read-ahead 2 MiB, channel windows). */
const BIG_FILE_BYTES = 64 * MiB;
/** Most a paused reader may have made the server read: a few windows, far under the file. */
const MAX_SERVER_READ_AHEAD_BYTES = 8 * MiB;
/** Most file data the client may hold at once during a transfer (channel windows and pipelines are 1-4 MiB). */
const MAX_HELD_BYTES = 16 * MiB;
/** How soon an abort must settle the call. */
const ABORT_SETTLES_MS = 1_000;

const sleepMs = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const quote = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;

/** The code of what `promise` rejected with (or "resolved"), and how long it took. */
async function settle(promise: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const started = performance.now();
  const code = await promise.then(
    () => "resolved",
    (error: unknown) => String((error as { code?: unknown })?.code ?? error),
  );
  return { code, ms: performance.now() - started };
}

/**
 * The descriptors on the machine that hold `file` open, each with its file position, read from
 * /proc: how far the server really read. One `find`, not a shell loop: a loaded machine has
 * thousands of descriptors. Only processes whose /proc entries this login may read are seen
 * (all of them for root; a non-dumpable server process such as OpenSSH's internal-sftp is
 * hidden from its own unprivileged user).
 */
export async function openersOf(sandbox: Sandbox, file: string): Promise<Array<{ fd: string; pos: number }>> {
  const pattern = file.replace(/[*?[\]\\]/g, "\\$&");
  const script = `find /proc/[0-9]*/fd -lname ${quote(pattern)} 2>/dev/null | while read -r f; do echo "$f $(sed -n 's/^pos:[[:space:]]*//p' "\${f%/fd/*}/fdinfo/\${f##*/}" 2>/dev/null)"; done`;
  const { stdout } = await sandbox.exec(script);
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const [fd, pos] = line.split(" ");
      return { fd: fd as string, pos: Number(pos) };
    });
}

/** Waits (up to `ms`) until no process holds `file` open; returns who still does. */
export async function untilClosedEverywhere(sandbox: Sandbox, file: string, ms = 3_000): Promise<string[]> {
  const deadline = performance.now() + ms;
  for (;;) {
    const openers = await openersOf(sandbox, file);
    if (openers.length === 0 || performance.now() > deadline) return openers.map((o) => o.fd);
    await sleepMs(100);
  }
}

/** Waits (up to `ms`) until `dir` holds no temp file of a write; returns the ones left. */
export async function untilNoTempFiles(sandbox: Sandbox, dir: string, ms = 5_000): Promise<string[]> {
  const deadline = performance.now() + ms;
  for (;;) {
    const temps = (await sandbox.readdir(dir)).map((e) => e.name).filter((name) => name.endsWith(".tmp"));
    if (temps.length === 0 || performance.now() > deadline) return temps;
    await sleepMs(100);
  }
}

/** A full garbage collection, so that what is measured next is what is really held. */
const collectGarbage: () => void = (() => {
  v8.setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();

/**
 * Measures the bytes of ArrayBuffers (file data) this process really holds while a transfer
 * runs: `sample()` collects garbage first, so chunks already sent or read do not count.
 */
async function heldBytesMeter(): Promise<{ sample(): Promise<void>; readonly peakBytes: number }> {
  // Freed buffers leave the count a turn after the collection that freed them.
  const settled = async (): Promise<number> => {
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    return process.memoryUsage().arrayBuffers;
  };
  const baseline = await settled();
  let peak = 0;
  return {
    async sample() {
      peak = Math.max(peak, (await settled()) - baseline);
    },
    get peakBytes() {
      return peak;
    },
  };
}

/** Writes `bytes` pseudo-random bytes through `writer` in 256 KiB chunks; returns their sha256. */
async function writeRandom(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  bytes: number,
  onMiB?: (sentMiB: number) => Promise<void>,
): Promise<string> {
  const hash = createHash("sha256");
  const unit = randomBytes(256 * 1024 + 13); // odd size: chunks straddle every boundary
  for (let sent = 0, turn = 0; sent < bytes; turn++) {
    const chunk = Buffer.from(unit.subarray(0, Math.min(unit.length, bytes - sent)));
    chunk.writeUInt32BE(turn, 0); // no two chunks alike, so a reordering shows
    hash.update(chunk);
    await writer.write(chunk);
    if (Math.floor((sent + chunk.length) / MiB) > Math.floor(sent / MiB))
      await onMiB?.(Math.floor((sent + chunk.length) / MiB));
    sent += chunk.length;
  }
  return hash.digest("hex");
}

/** Reads a whole stream into its sha256 and length, holding one chunk at a time. */
async function hashStream(
  stream: ReadableStream<Uint8Array>,
  onMiB?: (readMiB: number) => Promise<void>,
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    if (Math.floor((bytes + chunk.length) / MiB) > Math.floor(bytes / MiB))
      await onMiB?.(Math.floor((bytes + chunk.length) / MiB));
    bytes += chunk.length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

async function expectCode(promise: Promise<unknown>, code: SandboxErrorCode): Promise<void> {
  const { code: got } = await settle(promise);
  expect(got).toBe(code);
}

/**
 * The part of the sandbox contract for `readFileStream`/`writeFileStream` and the `signal` of
 * every file method: byte-exact streams of a file larger than every buffer, backpressure that
 * reaches the server, errors on the call, cancellation that stops the server, atomic stream
 * writes, and aborts that settle at once and lose nothing.
 */
export function defineFileStreamContract(context: FileStreamContractContext): void {
  const { path } = context;
  describe("file streams and signals", () => {
    it("streams a 64 MiB file up and down byte-exact, in bounded memory", async () => {
      const sandbox = context.sandbox();
      const file = path("streams", "big.bin");
      const every8MiB = (meter: { sample(): Promise<void> }) => async (mib: number) => {
        if (mib % 8 === 0) await meter.sample();
      };
      const upHeld = await heldBytesMeter();
      const writer = (await sandbox.writeFileStream(file)).getWriter();
      const sha256 = await writeRandom(writer, BIG_FILE_BYTES, every8MiB(upHeld));
      await writer.close();
      const remote = await sandbox.exec(`sha256sum ${quote(file)} | cut -d' ' -f1`);
      expect(remote.stdout.trim()).toBe(sha256);
      const downHeld = await heldBytesMeter();
      const down = await hashStream(await sandbox.readFileStream(file), every8MiB(downHeld));
      expect(down).toEqual({ sha256, bytes: BIG_FILE_BYTES });
      console.log(
        `[streams] 64 MiB, most file data held at once: write ${(upHeld.peakBytes / MiB).toFixed(1)} MiB, read ${(downHeld.peakBytes / MiB).toFixed(1)} MiB`,
      );
      // Whole-file buffering would hold up to the file's 64 MiB; the pipelines hold a few MiB.
      expect(upHeld.peakBytes).toBeLessThan(MAX_HELD_BYTES);
      expect(downHeld.peakBytes).toBeLessThan(MAX_HELD_BYTES);
    });

    it("reads at the reader's pace: the server reads ahead a bounded amount, other calls go on, cancel closes the file", async () => {
      const sandbox = context.sandbox();
      const file = path("streams", "paced.bin");
      await sandbox.exec(
        `mkdir -p ${quote(path("streams"))} && head -c ${BIG_FILE_BYTES} /dev/zero > ${quote(file)}`,
      );
      const root = (await sandbox.exec("id -u")).stdout.trim() === "0";
      const reader = (await sandbox.readFileStream(file)).getReader();
      const first = await reader.read();
      expect(first.done).toBe(false);
      await sleepMs(500);
      const openers = await openersOf(sandbox, file);
      // Root sees every server process; an unprivileged login may not see its SFTP server's.
      const visible = root || openers.length > 0;
      if (visible) {
        expect(openers.length).toBe(1);
        expect(openers[0]?.pos).toBeLessThanOrEqual(MAX_SERVER_READ_AHEAD_BYTES);
        // A server that reads with pread (the emulator) leaves the position at 0: nothing to measure.
        console.log(
          openers[0]?.pos === 0
            ? "[streams] the server reads positionally (pread); read-ahead not measured"
            : `[streams] server read ahead of a paused reader: ${openers[0]?.pos} bytes`,
        );
      } else console.log("[streams] the server's reader is hidden from this login; read-ahead not measured");
      // A paused stream holds back only itself: commands and file calls still go through.
      expect((await sandbox.exec("echo still-moving")).stdout).toBe("still-moving\n");
      await sandbox.writeFile(path("streams", "small.txt"), "small");
      expect(await sandbox.readFile(path("streams", "small.txt"))).toBe("small");
      const second = await reader.read(); // still open after the other calls
      expect(second.done).toBe(false);
      await reader.cancel();
      expect(await untilClosedEverywhere(sandbox, file)).toEqual([]);
    });

    it("rejects readFileStream of a missing path or a directory on the call, and streams an empty file", async () => {
      const sandbox = context.sandbox();
      await sandbox.mkdir(path("streams", "dir"), { recursive: true });
      await expectCode(sandbox.readFileStream(path("streams", "missing.bin")), "not_found");
      await expectCode(sandbox.readFileStream(path("streams", "dir")), "is_a_directory");
      await sandbox.writeFile(path("streams", "empty"), "");
      expect(await hashStream(await sandbox.readFileStream(path("streams", "empty")))).toEqual({
        sha256: createHash("sha256").digest("hex"),
        bytes: 0,
      });
      expect(await sandbox.readFile("/proc/self/status")).toContain("Name:");
      const proc = await hashStream(await sandbox.readFileStream("/proc/self/status"));
      expect(proc.bytes).toBeGreaterThan(0); // size 0 as stat says, read to the end all the same
    });

    it("writeFileStream replaces atomically on close, keeps the mode, creates parents; abort() and bad chunks keep the old content", async () => {
      const sandbox = context.sandbox();
      const dir = path("streams", "atomic");
      const file = `${dir}/target.txt`;
      await sandbox.writeFile(file, "old content", { mode: 0o640 });
      const writer = (await sandbox.writeFileStream(file)).getWriter();
      await writer.write(new TextEncoder().encode("new "));
      expect(await sandbox.readFile(file)).toBe("old content"); // nothing visible before close
      await writer.abort(new Error("changed my mind"));
      expect(await sandbox.readFile(file)).toBe("old content");
      expect(await untilNoTempFiles(sandbox, dir)).toEqual([]);

      const bad = (await sandbox.writeFileStream(file)).getWriter();
      await bad.write(new TextEncoder().encode("half"));
      await expectCode(bad.write("not bytes" as unknown as Uint8Array), "invalid_argument");
      expect(await sandbox.readFile(file)).toBe("old content");
      expect(await untilNoTempFiles(sandbox, dir)).toEqual([]);

      const good = (await sandbox.writeFileStream(file)).getWriter();
      await good.write(new TextEncoder().encode("new "));
      await good.write(new TextEncoder().encode("content"));
      await good.close();
      expect(await sandbox.readFile(file)).toBe("new content");
      expect((await sandbox.stat(file)).mode).toBe(0o640);
      expect((await sandbox.readdir(dir)).map((e) => e.name)).toEqual(["target.txt"]);

      const fresh = path("streams", "new", "parents", "file.sh");
      const created = (await sandbox.writeFileStream(fresh, { mode: 0o750 })).getWriter();
      await created.close();
      expect((await sandbox.stat(fresh)).mode).toBe(0o750);
      await sandbox.mkdir(path("streams", "a-dir"), { recursive: true });
      await expectCode(sandbox.writeFileStream(path("streams", "a-dir")), "is_a_directory");
      await expectCode(sandbox.writeFileStream("relative"), "invalid_argument");
      await expectCode(sandbox.writeFileStream(fresh, { mode: -1 }), "invalid_argument");
    });

    it("checks every file method's signal before any I/O: not a signal is invalid_argument, an aborted one is aborted", async () => {
      const sandbox = context.sandbox();
      const local = mkdtempSync(join(tmpdir(), "exedev-signal-"));
      try {
        writeFileSync(join(local, "up.txt"), "up");
        const target = path("signals", "never.txt");
        const calls = (signal: unknown): Array<[string, () => Promise<unknown>]> => {
          const s = { signal } as { signal: AbortSignal };
          return [
            ["readFile", () => sandbox.readFile(target, s)],
            ["readFileBuffer", () => sandbox.readFileBuffer(target, s)],
            ["writeFile", () => sandbox.writeFile(target, "x", s)],
            ["readFileStream", () => sandbox.readFileStream(target, s)],
            ["writeFileStream", () => sandbox.writeFileStream(target, s)],
            ["stat", () => sandbox.stat(target, s)],
            ["readdir", () => sandbox.readdir(target, s)],
            ["exists", () => sandbox.exists(target, s)],
            ["mkdir", () => sandbox.mkdir(target, { recursive: true, ...s })],
            ["rm", () => sandbox.rm(target, { force: true, ...s })],
            ["rename", () => sandbox.rename(target, `${target}.2`, s)],
            ["uploadFile", () => sandbox.uploadFile(join(local, "up.txt"), target, s)],
            ["downloadFile", () => sandbox.downloadFile(target, join(local, "down.txt"), s)],
          ];
        };
        for (const [name, call] of calls("not a signal")) {
          expect(`${name}: ${(await settle(call())).code}`).toBe(`${name}: invalid_argument`);
        }
        for (const [name, call] of calls(AbortSignal.abort())) {
          expect(`${name}: ${(await settle(call())).code}`).toBe(`${name}: aborted`);
        }
        expect(await sandbox.exists(target)).toBe(false);
        expect(await sandbox.exists(path("signals"))).toBe(false);
        expect(existsSync(join(local, "down.txt"))).toBe(false);
        // The old call shapes still work.
        await sandbox.writeFile(target, "x");
        expect((await sandbox.stat(target)).size).toBe(1);
        expect(await sandbox.exists(target, {})).toBe(true);
      } finally {
        rmSync(local, { recursive: true, force: true });
      }
    });

    it("aborts mid-transfer at once and loses nothing: old or whole new content, no temp or partial file", async () => {
      const sandbox = context.sandbox();
      const dir = path("aborts");
      const file = `${dir}/target.bin`;
      const old = randomBytes(1000);
      await sandbox.writeFile(file, old);
      const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
      const local = mkdtempSync(join(tmpdir(), "exedev-abort-"));
      try {
        const big = randomBytes(32 * MiB);
        writeFileSync(join(local, "big.bin"), big);
        const rows: string[] = [];
        const check = async (name: string, run: (signal: AbortSignal) => Promise<unknown>) => {
          const controller = new AbortController();
          const call = run(controller.signal);
          await sleepMs(30);
          const started = performance.now();
          controller.abort();
          const { code } = await settle(call);
          const ms = performance.now() - started;
          rows.push(`${name}: ${code} in ${Math.round(ms)} ms`);
          if (code !== "resolved") {
            expect(code, name).toBe("aborted");
            expect(ms, name).toBeLessThan(ABORT_SETTLES_MS);
          }
          const now = await sandbox.readFileBuffer(file);
          expect([sha(old), sha(big)], name).toContain(sha(now));
          expect(await untilNoTempFiles(sandbox, dir), name).toEqual([]);
          await sandbox.writeFile(file, old);
        };
        await check("writeFile", (signal) => sandbox.writeFile(file, big, { signal }));
        await check("uploadFile", (signal) => sandbox.uploadFile(join(local, "big.bin"), file, { signal }));
        await check("writeFileStream", async (signal) => {
          const writer = (await sandbox.writeFileStream(file, { signal })).getWriter();
          for (let i = 0; i < 64; i++) await writer.write(big.subarray(i * 256 * 1024, (i + 1) * 256 * 1024));
          await writer.close();
        });
        await sandbox.writeFile(`${dir}/big.bin`, big);
        await check("readFileBuffer", (signal) => sandbox.readFileBuffer(`${dir}/big.bin`, { signal }));
        await check("downloadFile", (signal) =>
          sandbox.downloadFile(`${dir}/big.bin`, join(local, "down.bin"), { signal }),
        );
        await check("readFileStream", async (signal) => {
          await hashStream(await sandbox.readFileStream(`${dir}/big.bin`, { signal }));
        });
        console.log(`[aborts] ${rows.join("; ")}`);
        // The download is absent or whole, and its temp file is gone.
        if (existsSync(join(local, "down.bin")))
          expect(sha(readFileSync(join(local, "down.bin")))).toBe(sha(big));
        for (let i = 0; i < 50 && readdirSync(local).some((name) => name.endsWith(".part")); i++)
          await sleepMs(100);
        expect(readdirSync(local).filter((name) => name.endsWith(".part"))).toEqual([]);
        expect(await untilClosedEverywhere(sandbox, `${dir}/big.bin`)).toEqual([]);
      } finally {
        rmSync(local, { recursive: true, force: true });
      }
    });
  });
}
