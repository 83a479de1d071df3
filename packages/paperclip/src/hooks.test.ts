import { generateSshKeyPair } from "@exedev-sandbox/core";
import type { EnvironmentTestHarness } from "@paperclipai/plugin-sdk/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DRIVER_KEY } from "./manifest.js";
import { harnessFor, startTestEmulator, type TestEmulator } from "./test-emulator.js";

describe("hooks against the exe.dev emulator", () => {
  let world: TestEmulator;
  let harness: EnvironmentTestHarness;
  const base = (config: Record<string, unknown> = {}) => ({
    driverKey: DRIVER_KEY,
    companyId: "company-1",
    environmentId: "env-hooks",
    config: { ...world.config, timeoutMs: 20_000, ...config },
  });

  beforeAll(async () => {
    world = await startTestEmulator();
    harness = await harnessFor(world.plugin);
  });
  afterAll(async () => {
    await world?.stop();
  });

  describe("probe", () => {
    it("reports an SSH key the account does not know, with the command that registers it", async () => {
      const stranger = generateSshKeyPair("stranger");
      const result = await harness.probe(base({ privateKey: stranger.privateKey }));
      expect(result.ok).toBe(false);
      expect(result.diagnostics?.at(-1)).toMatchObject({ severity: "error", code: "ssh_key_not_registered" });
      expect(result.summary).toContain(
        `ssh exe.dev ssh-key add '${stranger.publicKey.split(" ").slice(0, 2).join(" ")}'`,
      );
      expect(await world.api.listVms()).toEqual([]);
    });

    it("still probes when the token may not run whoami, and says what it skipped", async () => {
      const token = world.emulator.createToken({ cmds: ["new", "ls", "rm", "cp"] });
      const result = await harness.probe(base({ apiKey: token }));
      expect(result.ok).toBe(true);
      expect(result.diagnostics).toContainEqual(expect.objectContaining({ code: "whoami_not_allowed" }));
    });

    it("reports a rejected token and an invalid config without creating anything", async () => {
      const rejected = await harness.probe(base({ apiKey: "exe0.bm90LWEtdG9rZW4.bm9wZQ" }));
      expect(rejected).toMatchObject({ ok: false });
      expect(rejected.diagnostics?.at(-1)?.code).toMatch(/auth_failed|invalid_argument/);
      const invalid = await harness.probe(base({ cpu: 0 }));
      expect(invalid).toMatchObject({
        ok: false,
        summary: expect.stringContaining("cpu: must be a whole number"),
      });
      expect(await world.api.listVms()).toEqual([]);
    });
  });

  describe("leases", () => {
    it("deletes the VM on release without reuseLease", async () => {
      const lease = await harness.acquireLease({ ...base(), runId: "run-a", requestedCwd: "repo" });
      expect(lease.metadata?.remoteCwd).toBe(`${lease.metadata?.homeDir}/repo`);
      const receipt = await harness.releaseLease({ ...base(), providerLeaseId: lease.providerLeaseId });
      expect(receipt).toEqual({ providerLeaseId: lease.providerLeaseId, state: "destroyed" });
      expect(await world.api.listVms()).toEqual([]);
    });

    it("lets running work finish on release, or cuts it off with cancelActiveWork", async () => {
      const lease = await harness.acquireLease({ ...base({ reuseLease: true }), runId: "run-b" });
      const run = (seconds: number) =>
        harness.execute({ ...base(), lease, command: "sh", args: ["-c", `sleep ${seconds}; echo done`] });
      const finishing = run(1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await harness.releaseLease({ ...base({ reuseLease: true }), providerLeaseId: lease.providerLeaseId });
      expect(await finishing).toMatchObject({ exitCode: 0, stdout: "done\n" });

      // Settled into a value at once, so the rejection is never unhandled while destroy runs.
      const cut = run(30).then(
        () => undefined,
        (error: Error) => error,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      await harness.destroyLease({
        ...base(),
        providerLeaseId: lease.providerLeaseId,
        cancelActiveWork: true,
      });
      expect((await cut)?.message).toMatch(/closed/);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await world.api.listVms()).toEqual([]);
    });

    it("reconnects on its own when this worker has no connection for a lease", async () => {
      const lease = await harness.acquireLease({ ...base({ reuseLease: true }), runId: "run-c" });
      // A second worker (a restarted one) has no connection cached for the lease.
      const other = await harnessFor(world.newPlugin());
      const result = await other.execute({ ...base(), lease, command: "echo", args: ["again"] });
      expect(result.stdout).toBe("again\n");
      await other.destroyLease({ ...base(), providerLeaseId: lease.providerLeaseId });
    });

    it("fails execute, realize and resume clearly for a VM that is gone", async () => {
      const gone = { providerLeaseId: "pclip-gone-vm-1" };
      await expect(harness.execute({ ...base(), lease: gone, command: "true" })).rejects.toThrow(
        /VM pclip-gone-vm-1 no longer exists/,
      );
      await expect(harness.realizeWorkspace({ ...base(), lease: gone, workspace: {} })).rejects.toThrow(
        /no longer exists/,
      );
      await expect(
        harness.execute({ ...base(), lease: { providerLeaseId: null }, command: "true" }),
      ).rejects.toThrow(/acquire a lease first/);
    });
  });

  describe("interactive setup and templates", () => {
    it("starts a setup VM, hands out its SSH command on request, captures it, and deletes the setup VM", async () => {
      const session = await harness.startInteractiveSetup({ ...base(), sessionId: "setup-1" });
      expect(session).toMatchObject({
        status: "waiting_for_user",
        connectionSummary: { type: "ssh", hostRedacted: true, portRedacted: true, commandRedacted: true },
        connectionPayload: null,
      });
      const withPayload = await harness.getInteractiveSetup({
        ...base(),
        providerLeaseId: session.providerLeaseId,
        includeConnectionPayload: true,
      });
      expect(withPayload.connectionPayload?.command).toBe(
        `ssh -p ${world.emulator.sshPort} vm+${session.providerLeaseId}@${world.emulator.sshHost}`,
      );
      const captured = await harness.captureTemplate({
        ...base(),
        providerLeaseId: session.providerLeaseId,
        setupMetadata: session.metadata,
      });
      const names = (await world.api.listVms()).map((vm) => vm.name);
      expect(names).toEqual([captured.templateRef]);
      expect(
        await harness.getInteractiveSetup({ ...base(), providerLeaseId: session.providerLeaseId }),
      ).toMatchObject({ status: "missing" });
      expect(await harness.deleteTemplate({ ...base(), templateRef: captured.templateRef })).toEqual({
        deleted: true,
      });
    });

    it("cancels a setup VM, and says so when it is already gone", async () => {
      const session = await harness.startInteractiveSetup({ ...base(), sessionId: "setup-2" });
      const cancel = { ...base(), providerLeaseId: session.providerLeaseId, reason: "setup timeout" };
      expect(await harness.cancelInteractiveSetup(cancel)).toEqual({ status: "timed_out" });
      expect(await harness.cancelInteractiveSetup(cancel)).toEqual({ status: "missing" });
      expect(await world.api.listVms()).toEqual([]);
    });
  });

  describe("secrets", () => {
    it("are redacted from errors and log lines", async () => {
      const secret = "pclip-secret-value-7";
      const config = { env: { DEPLOY_KEY: secret } };
      await expect(harness.resumeLease({ ...base(config), providerLeaseId: secret })).rejects.toThrow(
        "exe.dev VM [redacted] no longer exists",
      );
      const logged = JSON.stringify(harness.logs);
      expect(logged).toContain("resumeLease failed: exe.dev VM [redacted] no longer exists");
      expect(logged).not.toContain(secret);
      expect(JSON.stringify(harness.environmentEvents)).not.toContain(`VM ${secret}`);
    });
  });

  it("left nothing behind", async () => {
    expect(await world.api.listVms()).toEqual([]);
  });
});
