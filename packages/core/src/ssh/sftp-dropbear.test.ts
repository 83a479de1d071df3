// The SFTP fault and path checks on Dropbear (whose SFTP is OpenSSH's external sftp-server,
// behind a different SSH server: other channel and close behaviour).
import { randomBytes } from "node:crypto";
import { describeWithDropbear, expectSandboxError, startDropbear } from "@exedev-sandbox/testing";
import { expect, it } from "vitest";
import {
  expectReadsNeverCrossFiles,
  expectWritesStayAtomic,
  STRESS_TEST_TIMEOUT_MS,
  useSandboxBehindHop,
} from "./sftp-test-support.js";

describeWithDropbear("SFTP under cuts and with `..`, against Dropbear", () => {
  const at = useSandboxBehindHop({
    scratchPrefix: "exedev-sftp-dropbear-",
    start: async () => {
      const server = await startDropbear();
      return {
        target: server,
        connectOptions: (hop) => ({ ...server.connectOptions(), port: hop.port }),
        stop: server.stop,
      };
    },
    base: (homeDir) => `${homeDir}/sftp-dropbear-${randomBytes(3).toString("hex")}`,
  });

  it(
    "never answers a read from another file's handle after a reconnect (200 cut rounds)",
    () => expectReadsNeverCrossFiles(at, "dropbear", 200),
    STRESS_TEST_TIMEOUT_MS,
  );

  it(
    "keeps writeFile atomic under cuts, with connection codes only and no temp files left",
    () => expectWritesStayAtomic(at, "dropbear", 6, 80),
    STRESS_TEST_TIMEOUT_MS,
  );

  it("means by `..` what the machine means, and rm refuses home through `..`", async () => {
    await at.sandbox.exec(
      `cd '${at.base}' && mkdir -p x/y && echo base > victim && echo x > x/victim && ln -s x/y ly && ln -s ly lly`,
    );
    expect(await at.sandbox.readFile(`${at.base}/lly/../victim`)).toBe("x\n");
    await at.sandbox.rm(`${at.base}/lly/../victim`);
    expect(
      (await at.sandbox.exec(`cat '${at.base}/victim'; test -e '${at.base}/x/victim' || echo gone`)).stdout,
    ).toBe("base\ngone\n");
    await expectSandboxError(at.sandbox.rm(`${at.base}/x/..//..`, { recursive: true }), "invalid_argument");
  });

  it("caps reads and reports directories", async () => {
    await expectSandboxError(
      at.sandbox.readFileBuffer("/dev/zero", { maxBytes: 4 * 1024 * 1024 }),
      "too_large",
    );
    await at.sandbox.exec(`truncate -s 100G '${at.base}/sparse'`);
    await expectSandboxError(at.sandbox.readFileBuffer(`${at.base}/sparse`), "too_large");
    await expectSandboxError(at.sandbox.readFile(at.base), "is_a_directory");
  });
});
