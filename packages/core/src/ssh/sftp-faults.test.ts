import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  describeWithSshd,
  type Forwarder,
  type SshdServer,
  startForwarder,
  startSshd,
} from "@exedev-sandbox/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectSandbox, type SshSandbox } from "../index.js";
import {
  identifyingContent,
  raceReadsAgainstCuts,
  raceWritesAgainstCuts,
  STRESS_TEST_TIMEOUT_MS,
} from "./sftp-test-support.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-sftp-faults-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describeWithSshd("SFTP under cuts, against OpenSSH", () => {
  let server: SshdServer;
  let hop: Forwarder;
  let sandbox: SshSandbox;
  let base: string;
  beforeAll(async () => {
    server = await startSshd();
    hop = await startForwarder(server);
    sandbox = await connectSandbox({
      ...server.connectOptions(),
      port: hop.port,
      knownHostsPath: join(scratch, "known_hosts"),
    });
    base = `${sandbox.homeDir}/sftp-faults-${process.pid}`;
    await sandbox.mkdir(base, { recursive: true });
  });
  afterAll(async () => {
    await sandbox?.rm(base, { recursive: true, force: true }).catch(() => {});
    await sandbox?.close();
    await hop?.kill();
    await server?.stop();
  });

  it(
    "never answers a read from another file's handle after a reconnect (300 cut rounds)",
    async () => {
      // Sizes from one request to several, so cuts land between open, fstat and the reads.
      const files = Array.from({ length: 8 }, (_, i) => ({
        path: `${base}/race-${i}.txt`,
        content: identifyingContent(i, [100, 40_000, 300_000, 700_000][i % 4] as number),
      }));
      for (const file of files) await sandbox.writeFile(file.path, file.content);
      const tally = await raceReadsAgainstCuts(sandbox, hop, files, 300);
      console.info("[sftp race, sshd]", JSON.stringify({ ...tally, wrongCodes: tally.wrongCodes.length }));
      expect(tally.wrongContent, "reads answered with another file's bytes").toBe(0);
      expect(tally.wrongCodes).toEqual([]);
      // The test is only meaningful if the cuts hit reads in flight.
      expect(tally.connectionErrors + tally.correct).toBe(300 * files.length);
    },
    STRESS_TEST_TIMEOUT_MS,
  );

  it(
    "keeps writeFile atomic under cuts: old or new content, connection codes only, no temp files left",
    async () => {
      const dir = `${base}/writes`;
      await sandbox.mkdir(dir, { recursive: true });
      const tally = await raceWritesAgainstCuts(sandbox, hop, dir, 6, 150);
      console.info(
        "[sftp write race, sshd]",
        JSON.stringify({ ...tally, wrongCodes: tally.wrongCodes.length }),
      );
      expect(tally.partial, "targets neither old nor new").toEqual([]);
      expect(tally.wrongCodes).toEqual([]);
      expect(tally.connectionErrors).toBeGreaterThan(0); // the cuts did hit writes in flight
      expect(tally.leftoverTemps, "temp files left behind").toEqual([]);
    },
    STRESS_TEST_TIMEOUT_MS,
  );
});
