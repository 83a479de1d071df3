import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createExeDevApi, type ExeDevApi, generateSshKeyPair } from "@exedev-sandbox/core";
import { type Emulator, startEmulator } from "@exedev-sandbox/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The child runs the built package, as an installed one runs (turbo builds it before the tests).
const flueDist = fileURLToPath(new URL("../dist/index.js", import.meta.url));

/**
 * A process that creates a VM through `exedev(undefined, { create: true })`, runs a command on
 * it, and then ends the way `mode` says. "flue-cli" is how `flue run` 2.0.x ends: its main()
 * resolves after its own teardown (which knows nothing of sandboxes), then it calls
 * `process.exit(process.exitCode ?? 0)`; on SIGINT/SIGTERM it drains and exits the same way.
 */
const CHILD = `
import { exedev } from ${JSON.stringify(flueDist)};
const mode = process.argv[2];
const factory = exedev(undefined, {
  create: { tags: ["exit-test"] },
  privateKey: process.env.TEST_PRIVATE_KEY,
  hostKey: { sha256: process.env.TEST_HOST_KEY },
});
async function main() {
  const sandbox = await factory.createSandbox({ id: "cli-run" });
  const { stdout } = await sandbox.exec("echo ready");
  process.stdout.write(stdout);
  // The test lists the VM, then lets the child go on.
  await new Promise((resolve) => process.stdin.once("data", resolve));
  process.stdin.pause();
  if (mode === "flue-cli") process.exitCode = 3;
  if (mode === "exit-7") process.exit(7);
  if (mode === "signal" || mode === "flue-cli-signal") {
    if (mode === "flue-cli-signal") {
      // The CLI's own handlers: cancel, close, then exit with 130/143.
      process.on("SIGINT", () => process.exit(130));
      process.on("SIGTERM", () => process.exit(143));
    }
    setInterval(() => {}, 1000); // an agent still working
    await new Promise(() => {});
  }
}
main().then(
  () => process.exit(process.exitCode ?? 0),
  (error) => { console.error(error); process.exit(1); },
);
`;

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

describe("a process that created VMs and exits leaves none running", () => {
  const scratch = mkdtempSync(join(tmpdir(), "exedev-flue-exit-"));
  const script = join(scratch, "child.mjs");
  let emulator: Emulator;
  let api: ExeDevApi;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    writeFileSync(script, CHILD);
    emulator = await startEmulator();
    const key = generateSshKeyPair("exit-test");
    emulator.registerKey(key.publicKey, "exit-test");
    const token = emulator.createToken();
    api = createExeDevApi({ baseUrl: emulator.apiUrl, token });
    env = {
      PATH: process.env.PATH,
      HOME: scratch,
      EXE_API_URL: emulator.apiUrl,
      EXE_API_TOKEN: token,
      TEST_PRIVATE_KEY: key.privateKey,
      TEST_HOST_KEY: emulator.hostKeyFingerprint,
    };
  });
  afterAll(async () => {
    await emulator?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Starts the child; resolves once its VM answered, with the VM's record and the exit. */
  async function run(mode: string, signal?: NodeJS.Signals) {
    const child: ChildProcess = spawn(process.execPath, [script, mode], { env, stdio: "pipe" });
    let stderr = "";
    child.stderr?.on("data", (chunk) => {
      stderr += chunk;
    });
    const ended = new Promise<Ended>((resolve) => {
      child.on("exit", (code, endSignal) => resolve({ code, signal: endSignal, stderr }));
    });
    const ready = new Promise<void>((resolve) => {
      child.stdout?.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("ready")) resolve();
      });
    });
    await Promise.race([ready, ended]);
    const during = await api.listVms("exit-test");
    const sentAt = Date.now();
    child.stdin?.write("go\n");
    if (signal) child.kill(signal);
    const result = await ended;
    return { during, result: { ...result, stderr }, exitMs: Date.now() - sentAt };
  }

  it.each([
    ["flue-cli", undefined, 3, null],
    ["exit-7", undefined, 7, null],
    ["flue-cli-signal", "SIGINT", 130, null],
    ["flue-cli-signal", "SIGTERM", 143, null],
    ["signal", "SIGTERM", null, "SIGTERM"],
    ["signal", "SIGINT", null, "SIGINT"],
  ] as const)("%s %s: the VM is deleted and the exit status kept", async (mode, signal, code, endSignal) => {
    const { during, result, exitMs } = await run(mode, signal);
    expect(result.stderr).toBe("");
    expect(during).toHaveLength(1);
    // Tagged for a reaper, next to the user's own tags.
    expect(during[0]?.tags).toEqual([
      expect.stringMatching(/^exedev-expires-\d+$/),
      "exedev-sandbox",
      "exit-test",
    ]);
    expect(result).toMatchObject({ code, signal: endSignal });
    expect(await api.listVms()).toEqual([]);
    expect(exitMs).toBeLessThan(15_000);
  });
});
