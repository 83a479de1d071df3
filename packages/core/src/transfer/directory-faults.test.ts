// Fault tests for directory transfers through a hop that freezes or cuts the path mid-transfer.
// Each checks the call's outcome and code, how long it took after the fault, and what is left on
// both machines once the transfer that was in flight has settled: never a half tree.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  describeWithSshd,
  type Forwarder,
  remainingProcesses,
  type SshdServer,
  startForwarder,
  startSshd,
} from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectSandbox, isSandboxError, type SshSandbox } from "../index.js";
import { downloadDirectory } from "./download-directory.js";
import { type TransferSandbox, uploadDirectory } from "./upload-directory.js";

const sleepMs = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const BIG_BYTES = 24 * 1024 * 1024;

async function settle(call: Promise<unknown>): Promise<{ outcome: string; code: string }> {
  try {
    await call;
    return { outcome: "resolved", code: "" };
  } catch (error) {
    return { outcome: "rejected", code: isSandboxError(error) ? error.code : String(error) };
  }
}

/** Polls `read` until `done` holds or the (generous) deadline passes; returns the last value. */
async function eventually<T>(
  read: () => Promise<T> | T,
  done: (value: T) => boolean,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await sleepMs(200);
    value = await read();
  }
  return value;
}

describeWithSshd("directory transfers under faults", () => {
  describe.each([{ transport: "agent" as const }, { transport: "channels" as const }])(
    "over $transport",
    ({ transport }) => {
      let server: SshdServer;
      let hop: Forwarder;
      let sandbox: SshSandbox;
      let checker: SshSandbox;
      let local: string;
      let tree: string;
      let parent: string;
      let thaw: (() => void) | undefined;
      /** The sandbox, with the path frozen the moment an archive starts to move. */
      let frozenOnTransfer: TransferSandbox;
      let remoteArchive = "";

      beforeAll(async () => {
        server = await startSshd();
        hop = await startForwarder(server);
        sandbox = await connectSandbox({ ...server.connectOptions(), port: hop.port, transport });
        checker = await connectSandbox({ ...server.connectOptions(), transport: "channels" });
        local = mkdtempSync(join(tmpdir(), "exedev-dir-faults-"));
        tree = join(local, "tree");
        mkdirSync(join(tree, "small"), { recursive: true });
        writeFileSync(join(tree, "big.bin"), randomBytes(BIG_BYTES));
        for (let i = 0; i < 50; i++) writeFileSync(join(tree, "small", `${i}.txt`), `${i}\n`);
        frozenOnTransfer = {
          exec: (command, options) => sandbox.exec(command, options),
          uploadFile: (from, to) => {
            thaw = hop.freeze();
            return sandbox.uploadFile(from, to);
          },
          downloadFile: (from, to) => {
            remoteArchive = from;
            thaw = hop.freeze();
            return sandbox.downloadFile(from, to);
          },
        };
      });
      afterAll(async () => {
        thaw?.();
        await sandbox?.close();
        await checker?.close();
        await server?.stop();
        if (local) rmSync(local, { recursive: true, force: true });
      });

      const freshParent = async () => {
        thaw = undefined;
        parent = `${checker.homeDir}/dir-faults-${randomBytes(4).toString("hex")}`;
        await checker.mkdir(parent);
      };
      const abortWhileFrozen = async (call: (signal: AbortSignal) => Promise<unknown>) => {
        const controller = new AbortController();
        const settled = settle(call(controller.signal));
        await eventually(
          () => thaw,
          (value) => value !== undefined,
        );
        await sleepMs(500);
        const abortedAt = performance.now();
        controller.abort();
        const outcome = await settled;
        const afterAbortMs = performance.now() - abortedAt;
        thaw?.();
        return { ...outcome, afterAbortMs };
      };

      it("an upload aborted while its archive is in flight rejects within 1 s, and no tree or archive is left", async () => {
        await freshParent();
        const result = await abortWhileFrozen((signal) =>
          uploadDirectory(frozenOnTransfer, tree, `${parent}/tree`, { signal }),
        );
        expect(result).toMatchObject({ outcome: "rejected", code: "aborted" });
        expect(result.afterAbortMs).toBeLessThan(1_000);
        // The transfer in flight goes on once thawed; the staged archive is removed after it.
        const left = await eventually(
          async () => (await checker.readdir(parent)).map((entry) => entry.name),
          (names) => names.length === 0,
        );
        expect(left).toEqual([]);
        await sleepMs(2_000);
        expect((await checker.readdir(parent)).map((entry) => entry.name)).toEqual([]);
        expect(await remainingProcesses(checker, "exedev-upload-")).toBe("");
        expect((await sandbox.exec("echo still")).stdout).toBe("still\n");
      });

      it("a download aborted while its archive is in flight rejects within 1 s, and localDir never appears", async () => {
        await freshParent();
        await checker.exec(
          `mkdir -p ${parent}/src && head -c ${BIG_BYTES} /dev/urandom > ${parent}/src/big.bin`,
        );
        const into = join(local, `down-${randomBytes(3).toString("hex")}`);
        mkdirSync(into);
        const result = await abortWhileFrozen((signal) =>
          downloadDirectory(frozenOnTransfer, `${parent}/src`, join(into, "tree"), { signal }),
        );
        expect(result).toMatchObject({ outcome: "rejected", code: "aborted" });
        expect(result.afterAbortMs).toBeLessThan(1_000);
        expect(remoteArchive).toMatch(/^\/tmp\/\.exedev-download-/);
        const left = await eventually(
          async () => [
            ...readdirSync(into),
            ...((await checker.exists(remoteArchive)) ? [remoteArchive] : []),
          ],
          (names) => names.length === 0,
        );
        expect(left).toEqual([]);
        expect(await remainingProcesses(checker, remoteArchive)).toBe("");
      });

      it("an upload whose path is cut mid-transfer resolves with the whole tree or rejects leaving none", async () => {
        await freshParent();
        const cutting: TransferSandbox = {
          ...frozenOnTransfer,
          uploadFile: (from, to) => {
            setTimeout(() => hop.cut(), 100);
            return sandbox.uploadFile(from, to);
          },
        };
        const outcome = await settle(uploadDirectory(cutting, tree, `${parent}/tree`));
        const names = await eventually(
          async () => (await checker.readdir(parent)).map((entry) => entry.name),
          (value) => value.every((name) => name === "tree"),
        );
        if (outcome.outcome === "resolved") {
          expect(names).toEqual(["tree"]);
          const count = await checker.exec(
            `find ${parent}/tree -type f | wc -l; wc -c < ${parent}/tree/big.bin`,
          );
          expect(count.stdout).toBe(`51\n${BIG_BYTES}\n`);
        } else {
          expect(names).toEqual([]);
        }
        console.log(`[fault] upload, path cut after 100 ms | ${outcome.outcome} ${outcome.code}`);
        expect((await sandbox.exec("echo still")).stdout).toBe("still\n");
      });
    },
  );
});
