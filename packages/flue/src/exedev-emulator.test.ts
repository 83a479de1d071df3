import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createExeDevApi } from "@exedev-sandbox/core";
import { type Emulator, startEmulator } from "@exedev-sandbox/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exedev } from "./index.js";

describe("exedev() against the exe.dev emulator", () => {
  const scratch = mkdtempSync(join(tmpdir(), "exedev-flue-emulator-"));
  let emulator: Emulator;
  let privateKey: string;
  beforeAll(async () => {
    const keyPath = join(scratch, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "flue-test", "-f", keyPath]);
    privateKey = readFileSync(keyPath, "utf8");
    emulator = await startEmulator();
    emulator.registerKey(readFileSync(`${keyPath}.pub`, "utf8").trim(), "flue-test");
  });
  afterAll(async () => {
    await emulator?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("creates a VM for an agent, uses it through Flue's sandbox, and leaves nothing behind", async () => {
    const api = createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() });
    const before = await api.listVms();
    const factory = exedev(undefined, {
      create: true,
      api,
      privateKey,
      knownHostsPath: join(scratch, "known_hosts"),
    });
    const sandbox = await factory.createSandbox({ id: "emulated-agent" });
    expect(await api.listVms()).toHaveLength(before.length + 1);
    await sandbox.writeFile("notes/hello.txt", "hello from flue\n");
    expect(await sandbox.readFile("notes/hello.txt")).toBe("hello from flue\n");
    expect(await sandbox.readdir("notes")).toEqual(["hello.txt"]);
    expect(await sandbox.exec("cat hello.txt; pwd", { cwd: "notes" })).toEqual({
      stdout: `hello from flue\n${sandbox.cwd}/notes\n`,
      stderr: "",
      exitCode: 0,
    });
    expect((await sandbox.exec("sleep 30", { timeoutMs: 300 })).exitCode).toBe(124);
    await factory.dispose();
    expect(await api.listVms()).toEqual(before);
    expect(existsSync(sandbox.cwd)).toBe(false); // the emulated VM's workspace is gone too
  });
});
