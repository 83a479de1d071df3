// waitForSetup against the emulator's exe-setup unit: the sandbox resolves after the setup
// script, a failed script is reported with its log and its VM deleted, and the systemctl and
// journalctl shims answer as exeuntu's do.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createExeDevApi,
  createExeDevSandbox,
  type ExeDevApi,
  type ExeDevSandboxOptions,
  isSandboxError,
} from "@exedev-sandbox/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { sleep } from "./test-helpers.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-setup-wait-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("waitForSetup and the exe-setup unit (emulator)", () => {
  let emulator: Emulator;
  let api: ExeDevApi;
  let base: ExeDevSandboxOptions;

  beforeAll(async () => {
    emulator = await startEmulator();
    api = createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() });
    base = {
      api,
      privateKey: readFileSync(join(emulator.dataDir, "emulator_ed25519"), "utf8"),
      hostKey: { sha256: emulator.hostKeyFingerprint },
      knownHostsPath: join(scratch, `kh-${randomBytes(4).toString("hex")}`),
    };
  });
  afterAll(() => emulator?.stop());

  const names = async (): Promise<string[]> => (await api.listVms()).map((vm) => vm.name);

  it("resolves only after a setup script that sleeps 3 s, so the first command sees its file", async () => {
    const started = Date.now();
    await using sandbox = await createExeDevSandbox({
      ...base,
      create: { setupScript: 'sleep 3\necho installed > "$HOME/tool.txt"' },
    });
    const elapsedMs = Date.now() - started;
    const first = await sandbox.exec("cat tool.txt");
    expect(first.stdout).toBe("installed\n");
    expect(elapsedMs).toBeGreaterThanOrEqual(3_000);
  }, 60_000);

  it("rejects a failed setup script with its log's tail, and deletes the VM", async () => {
    const name = `setup-fails-${randomBytes(3).toString("hex")}`;
    const error = await createExeDevSandbox({
      ...base,
      create: { name, setupScript: "echo boom >&2; exit 3" },
    }).catch((e: unknown) => e);
    expect(isSandboxError(error, "sandbox_died")).toBe(true);
    if (!isSandboxError(error)) throw error;
    expect(error.message).toMatch(/setup script/);
    expect(error.message).not.toContain("exit 3");
    expect(String(error.details.logTail)).toContain("boom");
    expect(error.details.reason).toBe("setup_failed");
    expect(await names()).not.toContain(name);
  }, 60_000);

  it("times out with a tiny timeoutMs, and deletes the VM", async () => {
    const name = `setup-slow-${randomBytes(3).toString("hex")}`;
    const error = await createExeDevSandbox({
      ...base,
      create: { name, setupScript: "sleep 30" },
      waitForSetup: { timeoutMs: 100 },
    }).catch((e: unknown) => e);
    expect(isSandboxError(error, "timeout")).toBe(true);
    expect(await names()).not.toContain(name);
  }, 60_000);

  it("returns at once with waitForSetup: false, the script still running", async () => {
    await using sandbox = await createExeDevSandbox({
      ...base,
      create: { setupScript: 'sleep 3; echo late > "$HOME/late.txt"' },
      waitForSetup: false,
    });
    expect(await sandbox.exists(`${sandbox.homeDir}/late.txt`)).toBe(false);
  }, 60_000);

  it("rejects a bad waitForSetup before any request", async () => {
    const before = await names();
    const error = await createExeDevSandbox({
      ...base,
      create: { setupScript: "true" },
      waitForSetup: "yes" as never,
    }).catch((e: unknown) => e);
    expect(isSandboxError(error, "invalid_argument")).toBe(true);
    expect(await names()).toEqual(before);
  });

  it("systemctl is-active exe-setup goes activating -> inactive; journalctl -u exe-setup shows the output", async () => {
    await using sandbox = await createExeDevSandbox({
      ...base,
      create: { setupScript: "echo step-one; sleep 4; echo step-two" },
      waitForSetup: false,
    });
    const probe = "systemctl is-active exe-setup; echo rc=$?";
    expect((await sandbox.exec(probe)).stdout).toBe("activating\nrc=3\n");
    let state = "";
    for (let i = 0; i < 80 && state !== "inactive\nrc=3\n"; i++) {
      await sleep(250);
      state = (await sandbox.exec(probe)).stdout;
    }
    expect(state).toBe("inactive\nrc=3\n");
    const journal = await sandbox.exec("journalctl -u exe-setup --no-pager -n 1");
    expect(journal.stdout).toBe("step-two\n");
    expect((await sandbox.exec("journalctl -u exe-setup.service --no-pager")).stdout).toBe(
      "step-one\nstep-two\n",
    );
  }, 60_000);

  it("reports failed (is-failed exit 0) after a non-zero exit", async () => {
    await using sandbox = await createExeDevSandbox({
      ...base,
      create: { setupScript: "echo boom >&2; exit 3" },
      waitForSetup: false,
    });
    let out = "";
    for (let i = 0; i < 40 && !out.startsWith("failed"); i++) {
      out = (await sandbox.exec("systemctl is-active exe-setup; echo rc=$?")).stdout;
      if (!out.startsWith("failed")) await sleep(100);
    }
    expect(out).toBe("failed\nrc=3\n");
    expect((await sandbox.exec("systemctl is-failed --quiet exe-setup; echo rc=$?")).stdout).toBe("rc=0\n");
  }, 60_000);

  it("a VM without a setup script: inactive, no journal entries; other units are refused", async () => {
    await using sandbox = await createExeDevSandbox({ ...base, create: true });
    expect((await sandbox.exec("systemctl is-active exe-setup; echo rc=$?")).stdout).toBe("inactive\nrc=3\n");
    expect((await sandbox.exec("journalctl -u exe-setup --no-pager")).stdout).toBe("-- No entries --\n");
    const other = await sandbox.exec("systemctl is-active ssh");
    expect(other.exitCode).not.toBe(0);
    expect(other.stderr).toContain("emulator: only exe-setup is emulated");
    const restart = await sandbox.exec("systemctl restart exe-setup");
    expect(restart.exitCode).not.toBe(0);
    expect(restart.stderr).toContain("only exe-setup is emulated");
  }, 60_000);

  it("newDelayMs makes new and cp take at least that long", async () => {
    emulator.faults.setNewDelayMs(1_200);
    try {
      let started = Date.now();
      const vm = await api.newVm();
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_200);
      started = Date.now();
      const copy = await api.cloneVm(vm.name);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_200);
      await api.removeVm(vm.name, copy.name);
    } finally {
      emulator.faults.setNewDelayMs(undefined);
    }
    const started = Date.now();
    const quick = await api.newVm();
    expect(Date.now() - started).toBeLessThan(1_200);
    await api.removeVm(quick.name);
  }, 60_000);
});
