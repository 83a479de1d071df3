// The same SFTP fault checks through the emulator's SSH gateway and SFTP server (another server
// implementation, whose handles are also small integers reused across sessions).
import { startEmulator } from "@exedev-sandbox/emulator";
import { describe, it } from "vitest";
import { createExeDevApi } from "../api/exe-dev-api.js";
import { generateSshKeyPair } from "./key-pair.js";
import {
  expectReadsNeverCrossFiles,
  STRESS_TEST_TIMEOUT_MS,
  useSandboxBehindHop,
} from "./sftp-test-support.js";

describe("SFTP under cuts, through the emulator", () => {
  const at = useSandboxBehindHop({
    scratchPrefix: "exedev-sftp-emulator-",
    start: async () => {
      const key = generateSshKeyPair("sftp-faults");
      const emulator = await startEmulator();
      emulator.registerKey(key.publicKey, "sftp-faults");
      const api = createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() });
      const vm = (await api.newVm()).name;
      return {
        target: { host: emulator.sshHost, port: emulator.sshPort },
        connectOptions: (hop) => ({
          host: hop.host,
          port: hop.port,
          username: `vm+${vm}`,
          privateKey: key.privateKey,
          hostKey: { sha256: emulator.hostKeyFingerprint },
        }),
        stop: () => emulator.stop(),
      };
    },
    base: (homeDir) => `${homeDir}/sftp-faults`,
    removeBase: false,
  });

  it(
    "never answers a read from another file's handle after a reconnect (300 cut rounds)",
    () => expectReadsNeverCrossFiles(at, "emulator", 300),
    STRESS_TEST_TIMEOUT_MS,
  );
});
