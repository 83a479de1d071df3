import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  describeWithSshd,
  isRoot,
  type LobbyServer,
  routeLobbyToSshd,
  type SshdServer,
  startLobbyServer,
  startSshd,
  UNPRIVILEGED_TEST_USER,
} from "@exedev-sandbox/testing";
import type { PaperclipPlugin, PluginEnvironmentLease } from "@paperclipai/plugin-sdk";
import type { EnvironmentTestHarness } from "@paperclipai/plugin-sdk/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DRIVER_KEY } from "./manifest.js";
import { createExeDevPlugin } from "./plugin.js";
import { harnessFor } from "./test-emulator.js";

// The same hooks over a real OpenSSH server (sshd's exec, the user's real login shell, OpenSSH's
// SFTP), with a stand-in exe.dev API that routes every VM to it.
describeWithSshd("hooks over a real OpenSSH server", () => {
  let sshd: SshdServer;
  let lobby: LobbyServer;
  let plugin: PaperclipPlugin;
  let harness: EnvironmentTestHarness;
  let lease: PluginEnvironmentLease;
  let scratch: string;
  let base: { driverKey: string; companyId: string; environmentId: string; config: Record<string, unknown> };
  // As root the server logs in a throwaway account, whose login profile the test may edit.
  const ownAccount = isRoot();

  beforeAll(async () => {
    sshd = await startSshd(ownAccount ? { username: UNPRIVILEGED_TEST_USER } : {});
    lobby = await startLobbyServer({ sshStyle: "gateway" });
    routeLobbyToSshd(lobby, sshd);
    scratch = mkdtempSync(join(tmpdir(), "exedev-paperclip-openssh-"));
    chmodSync(scratch, 0o777); // the login user may not be the test runner
    plugin = createExeDevPlugin({ env: {} });
    harness = await harnessFor(plugin);
    base = {
      driverKey: DRIVER_KEY,
      companyId: "company-1",
      environmentId: "env-openssh",
      // The host key pinned by fingerprint: no known_hosts involved.
      config: {
        apiKey: lobby.token,
        apiUrl: lobby.url,
        privateKey: sshd.privateKey,
        hostKey: sshd.hostKeyFingerprint,
      },
    };
  });
  afterAll(async () => {
    await plugin?.definition.onShutdown?.();
    await lobby?.close();
    await sshd?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("acquires a lease, and runs commands with stdin, exit codes and timeouts", async () => {
    lease = await harness.acquireLease({ ...base, runId: "run-1", requestedCwd: join(scratch, "work") });
    const run = (command: string, args: string[], extra: Record<string, unknown> = {}) =>
      harness.execute({ ...base, lease, command, args, ...extra });
    expect(await run("pwd", [])).toMatchObject({ exitCode: 0, stdout: `${join(scratch, "work")}\n` });
    expect(await run("tr", ["a-z", "A-Z"], { stdin: "shout\n" })).toMatchObject({ stdout: "SHOUT\n" });
    expect(await run("sh", ["-c", "exit 9"])).toMatchObject({ exitCode: 9, timedOut: false });
    expect(await run("sleep", ["20"], { timeoutMs: 300 })).toMatchObject({ exitCode: null, timedOut: true });
  });

  it.skipIf(!ownAccount)("runs commands in the login shell, so the profile's PATH applies", async () => {
    const home = String(lease.metadata?.homeDir);
    const profile = join(home, ".profile");
    const original = readFileSync(profile, "utf8");
    try {
      writeFileSync(profile, `${original}\nexport PATH="${scratch}/bin:$PATH"\n`);
      mkdirSync(join(scratch, "bin"), { recursive: true });
      writeFileSync(join(scratch, "bin", "pclip-tool"), "#!/bin/sh\necho tool-from-profile-path\n", {
        mode: 0o755,
      });
      const result = await harness.execute({ ...base, lease, command: "pclip-tool" });
      expect(result).toMatchObject({ exitCode: 0, stdout: "tool-from-profile-path\n" });
    } finally {
      writeFileSync(profile, original);
    }
  });

  it("syncs a directory in and back out over OpenSSH's SFTP", async () => {
    const source = join(scratch, "in");
    mkdirSync(join(source, "sub"), { recursive: true });
    writeFileSync(join(source, "sub", "data.txt"), "payload\n");
    const hooks = plugin.definition;
    const remote = join(scratch, "work", "copied");
    const into = await hooks.onEnvironmentSyncIn!({
      ...base,
      lease,
      operations: [
        { operationId: "in", files: [{ sourcePath: source, targetPath: remote, kind: "directory" }] },
      ],
    });
    expect(into.operations[0]).toMatchObject({ filesTransferred: 1 });
    const back = join(scratch, "back");
    const out = await hooks.onEnvironmentSyncOut!({
      ...base,
      lease,
      operations: [
        { operationId: "out", files: [{ sourcePath: remote, targetPath: back, kind: "directory" }] },
      ],
    });
    expect(out.operations[0]).toMatchObject({ filesTransferred: 1 });
    expect(readFileSync(join(back, "sub", "data.txt"), "utf8")).toBe("payload\n");
  });

  it("destroys the lease through the API", async () => {
    await harness.destroyLease({ ...base, providerLeaseId: lease.providerLeaseId });
    expect(lobby.vms.size).toBe(0);
  });
});
