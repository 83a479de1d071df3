// The SFTP fault and path checks on Dropbear (whose SFTP is OpenSSH's external sftp-server,
// behind a different SSH server: other channel and close behaviour).
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type DropbearServer,
  describeWithDropbear,
  expectSandboxError,
  type Forwarder,
  startDropbear,
  startForwarder,
} from "@exedev-sandbox/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectSandbox, type SshSandbox } from "../index.js";
import {
  identifyingContent,
  raceReadsAgainstCuts,
  raceWritesAgainstCuts,
  STRESS_TEST_TIMEOUT_MS,
} from "./sftp-test-support.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-sftp-dropbear-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describeWithDropbear("SFTP under cuts and with `..`, against Dropbear", () => {
  let server: DropbearServer;
  let hop: Forwarder;
  let sandbox: SshSandbox;
  let base: string;
  beforeAll(async () => {
    server = await startDropbear();
    hop = await startForwarder(server);
    sandbox = await connectSandbox({
      ...server.connectOptions(),
      port: hop.port,
      knownHostsPath: join(scratch, "known_hosts"),
    });
    base = `${sandbox.homeDir}/sftp-dropbear-${randomBytes(3).toString("hex")}`;
    await sandbox.mkdir(base, { recursive: true });
  });
  afterAll(async () => {
    await sandbox?.rm(base, { recursive: true, force: true }).catch(() => {});
    await sandbox?.close();
    await hop?.kill();
    await server?.stop();
  });

  it(
    "never answers a read from another file's handle after a reconnect (200 cut rounds)",
    async () => {
      const files = Array.from({ length: 8 }, (_, i) => ({
        path: `${base}/race-${i}.txt`,
        content: identifyingContent(i, [100, 40_000, 300_000, 700_000][i % 4] as number),
      }));
      for (const file of files) await sandbox.writeFile(file.path, file.content);
      const tally = await raceReadsAgainstCuts(sandbox, hop, files, 200);
      console.info(
        "[sftp race, dropbear]",
        JSON.stringify({ ...tally, wrongCodes: tally.wrongCodes.length }),
      );
      expect(tally.wrongContent, "reads answered with another file's bytes").toBe(0);
      expect(tally.wrongCodes).toEqual([]);
      expect(tally.connectionErrors + tally.correct).toBe(200 * files.length);
    },
    STRESS_TEST_TIMEOUT_MS,
  );

  it(
    "keeps writeFile atomic under cuts, with connection codes only and no temp files left",
    async () => {
      const dir = `${base}/writes`;
      await sandbox.mkdir(dir, { recursive: true });
      const tally = await raceWritesAgainstCuts(sandbox, hop, dir, 6, 80);
      console.info(
        "[sftp write race, dropbear]",
        JSON.stringify({ ...tally, wrongCodes: tally.wrongCodes.length }),
      );
      expect(tally.partial).toEqual([]);
      expect(tally.wrongCodes).toEqual([]);
      expect(tally.connectionErrors).toBeGreaterThan(0);
      expect(tally.leftoverTemps).toEqual([]);
    },
    STRESS_TEST_TIMEOUT_MS,
  );

  it("means by `..` what the machine means, and rm refuses home through `..`", async () => {
    await sandbox.exec(
      `cd '${base}' && mkdir -p x/y && echo base > victim && echo x > x/victim && ln -s x/y ly && ln -s ly lly`,
    );
    expect(await sandbox.readFile(`${base}/lly/../victim`)).toBe("x\n");
    await sandbox.rm(`${base}/lly/../victim`);
    expect((await sandbox.exec(`cat '${base}/victim'; test -e '${base}/x/victim' || echo gone`)).stdout).toBe(
      "base\ngone\n",
    );
    await expectSandboxError(sandbox.rm(`${base}/x/..//..`, { recursive: true }), "invalid_argument");
  });

  it("caps reads and reports directories", async () => {
    await expectSandboxError(sandbox.readFileBuffer("/dev/zero", { maxBytes: 4 * 1024 * 1024 }), "too_large");
    await sandbox.exec(`truncate -s 100G '${base}/sparse'`);
    await expectSandboxError(sandbox.readFileBuffer(`${base}/sparse`), "too_large");
    await expectSandboxError(sandbox.readFile(base), "is_a_directory");
  });
});
