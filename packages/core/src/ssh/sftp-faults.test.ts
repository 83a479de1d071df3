import { describeWithSshd, startSshd } from "@exedev-sandbox/testing";
import { it } from "vitest";
import {
  expectReadsNeverCrossFiles,
  expectWritesStayAtomic,
  STRESS_TEST_TIMEOUT_MS,
  useSandboxBehindHop,
} from "./sftp-test-support.js";

describeWithSshd("SFTP under cuts, against OpenSSH", () => {
  const at = useSandboxBehindHop({
    scratchPrefix: "exedev-sftp-faults-",
    start: async () => {
      const server = await startSshd();
      return {
        target: server,
        connectOptions: (hop) => ({ ...server.connectOptions(), port: hop.port }),
        stop: server.stop,
      };
    },
    base: (homeDir) => `${homeDir}/sftp-faults-${process.pid}`,
  });

  it(
    "never answers a read from another file's handle after a reconnect (300 cut rounds)",
    () => expectReadsNeverCrossFiles(at, "sshd", 300),
    STRESS_TEST_TIMEOUT_MS,
  );

  it(
    "keeps writeFile atomic under cuts: old or new content, connection codes only, no temp files left",
    () => expectWritesStayAtomic(at, "sshd", 6, 150),
    STRESS_TEST_TIMEOUT_MS,
  );
});
