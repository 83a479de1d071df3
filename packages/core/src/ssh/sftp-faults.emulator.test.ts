// The same SFTP fault checks through the emulator's SSH gateway and SFTP server (another server
// implementation, whose handles are also small integers reused across sessions).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Emulator, startEmulator } from "@exedev-sandbox/emulator";
import { type Forwarder, startForwarder } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExeDevApi } from "../api/exe-dev-api.js";
import { connectSandbox, type SshSandbox } from "../index.js";
import { generateSshKeyPair } from "./key-pair.js";
import { identifyingContent, raceReadsAgainstCuts, STRESS_TEST_TIMEOUT_MS } from "./sftp-test-support.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-sftp-emulator-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("SFTP under cuts, through the emulator", () => {
  let emulator: Emulator;
  let hop: Forwarder;
  let sandbox: SshSandbox;
  let base: string;
  beforeAll(async () => {
    const key = generateSshKeyPair("sftp-faults");
    emulator = await startEmulator();
    emulator.registerKey(key.publicKey, "sftp-faults");
    const api = createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() });
    const vm = (await api.newVm()).name;
    hop = await startForwarder({ host: emulator.sshHost, port: emulator.sshPort });
    sandbox = await connectSandbox({
      host: hop.host,
      port: hop.port,
      username: `vm+${vm}`,
      privateKey: key.privateKey,
      knownHostsPath: join(scratch, "known_hosts"),
      hostKey: { sha256: emulator.hostKeyFingerprint },
    });
    base = `${sandbox.homeDir}/sftp-faults`;
    await sandbox.mkdir(base, { recursive: true });
  });
  afterAll(async () => {
    await sandbox?.close();
    await hop?.kill();
    await emulator?.stop();
  });

  it(
    "never answers a read from another file's handle after a reconnect (300 cut rounds)",
    async () => {
      const files = Array.from({ length: 8 }, (_, i) => ({
        path: `${base}/race-${i}.txt`,
        content: identifyingContent(i, [100, 40_000, 300_000, 700_000][i % 4] as number),
      }));
      for (const file of files) await sandbox.writeFile(file.path, file.content);
      const tally = await raceReadsAgainstCuts(sandbox, hop, files, 300);
      console.info(
        "[sftp race, emulator]",
        JSON.stringify({ ...tally, wrongCodes: tally.wrongCodes.length }),
      );
      expect(tally.wrongContent, "reads answered with another file's bytes").toBe(0);
      expect(tally.wrongCodes).toEqual([]);
      expect(tally.connectionErrors + tally.correct).toBe(300 * files.length);
    },
    STRESS_TEST_TIMEOUT_MS,
  );
});
