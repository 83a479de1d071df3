import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSshKeyPair } from "@exedev-sandbox/core";
import { afterAll, describe, expect, it } from "vitest";
import { startFromCommandLine, USAGE, UsageError } from "./cli-main.js";
import { post } from "./test-helpers.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-emulator-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function capture() {
  const logged: string[] = [];
  const errors: string[] = [];
  return {
    logged,
    errors,
    output: { log: (text: string) => logged.push(text), error: (text: string) => errors.push(text) },
  };
}

describe("exedev-emulator command line", () => {
  it("prints the usage for --help and -h", async () => {
    for (const flag of ["--help", "-h"]) {
      const { logged, output } = capture();
      expect(await startFromCommandLine([flag], output)).toBeUndefined();
      expect(logged).toEqual([USAGE]);
    }
  });

  it("refuses unknown options, positionals and bad ports", async () => {
    for (const args of [["--nope"], ["extra"], ["--port", "http"], ["--ssh-port=70000"], ["--port"]]) {
      await expect(startFromCommandLine(args, capture().output), args.join(" ")).rejects.toBeInstanceOf(
        UsageError,
      );
    }
  });

  it("starts with the given data directory and keys, and prints a token that works", async () => {
    const key = generateSshKeyPair("cli-key");
    const keyFile = join(scratch, "id_test.pub");
    writeFileSync(keyFile, `${key.publicKey}\n`);
    const notAKey = join(scratch, "not-a-key.pub");
    writeFileSync(notAKey, "hello\n");
    const { logged, errors, output } = capture();
    const dataDir = join(scratch, "data");
    const emulator = await startFromCommandLine(
      ["--data-dir", dataDir, "--key", keyFile, `--key=${notAKey}`, "--host", "127.0.0.1"],
      output,
    );
    try {
      expect(emulator?.dataDir).toBe(dataDir);
      const banner = logged.join("\n");
      expect(banner).toContain("isolates nothing");
      expect(banner).toContain(`export EXE_API_URL=${emulator?.apiUrl}\n`);
      expect(banner).toContain(`port ${emulator?.sshPort}`);
      const token = /export EXE_API_TOKEN=(\S+)/.exec(banner)?.[1];
      expect(token).toMatch(/^exe0\./);
      expect(errors.join("\n")).toContain("not registering");
      const keys = (await post(emulator!, "ssh-key list", { token })).lines[0]?.ssh_keys as Array<{
        name: string;
      }>;
      expect(keys.map((entry) => entry.name)).toEqual(["emulator", keyFile]);
      expect((await post(emulator!, "new --name=cli-made-vm", { token })).status).toBe(200);
    } finally {
      await emulator?.stop();
    }
  });
});
