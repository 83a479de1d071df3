import { randomBytes } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type {
  PluginEnvironmentExecuteParams,
  PluginEnvironmentLease,
  PluginEnvironmentSyncInParams,
  PluginEnvironmentSyncOutParams,
} from "@paperclipai/plugin-sdk";
import {
  assertEnvironmentEventOrder,
  assertExecutionLifecycle,
  assertLeaseLifecycle,
  assertWorkspaceRealizationLifecycle,
  type EnvironmentTestHarness,
} from "@paperclipai/plugin-sdk/testing";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DRIVER_KEY } from "./manifest.js";
import { harnessFor, startTestEmulator, type TestEmulator } from "./test-emulator.js";

describe("the full lease lifecycle against the exe.dev emulator", () => {
  let world: TestEmulator;
  let harness: EnvironmentTestHarness;
  let base: { driverKey: string; companyId: string; environmentId: string; config: Record<string, unknown> };
  let lease: PluginEnvironmentLease;
  let workspace: string;
  const logChunks: string[] = [];

  const run = (params: Partial<PluginEnvironmentExecuteParams> & { command: string }) =>
    harness.execute({ ...base, lease, ...params });
  const shell = async (script: string) => {
    const result = await run({ command: "sh", args: ["-c", script], cwd: workspace });
    expect(result.exitCode, result.stderr).toBe(0);
    return result.stdout;
  };

  beforeAll(async () => {
    world = await startTestEmulator();
    harness = await harnessFor(world.plugin);
    vi.spyOn(harness.ctx.execution, "log").mockImplementation((_stream, chunk) => void logChunks.push(chunk));
    base = {
      driverKey: DRIVER_KEY,
      companyId: "company-1",
      environmentId: "env-1",
      config: { ...world.config, reuseLease: true, timeoutMs: 20_000 },
    };
  });
  afterAll(async () => {
    await world?.stop();
  });

  it("validates the config and normalises it", async () => {
    const result = await harness.validateConfig({ driverKey: DRIVER_KEY, config: base.config });
    expect(result.errors ?? []).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.normalizedConfig).toMatchObject({
      namePrefix: "pclip",
      timeoutMs: 20_000,
      hostKey: "accept-new",
    });
  });

  it("probes with a throwaway VM and deletes it", async () => {
    const result = await harness.probe(base);
    expect(result.summary).toMatch(/ran a command in its login shell, and deleted it/);
    expect(result.ok).toBe(true);
    expect(await world.api.listVms()).toEqual([]);
  });

  it("acquires a lease: a new VM with its working directory", async () => {
    lease = await harness.acquireLease({ ...base, runId: "run-1" });
    expect(lease.providerLeaseId).toMatch(/^pclip-/);
    expect(lease.expiresAt).toBeNull();
    expect((await world.api.listVms()).map((vm) => vm.name)).toEqual([lease.providerLeaseId]);
    expect(lease.metadata?.remoteCwd).toBe(`${lease.metadata?.homeDir}/paperclip-workspace`);
  });

  it("realizes the requested workspace and returns it", async () => {
    const requested = `${lease.metadata?.homeDir}/projects/app`;
    const realized = await harness.realizeWorkspace({ ...base, lease, workspace: { remotePath: requested } });
    expect(realized.cwd).toBe(requested);
    workspace = realized.cwd;
    expect((await run({ command: "test", args: ["-d", workspace] })).exitCode).toBe(0);
  });

  it("executes programs with arguments quoted, in the cwd, with env, through the login shell", async () => {
    await shell(`printf 'export FROM_PROFILE=profile-ok\\n' > "$HOME/.profile"`);
    const quoted = await run({ command: "printf", args: ["%s|", "a b", "it's", "$HOME", "`id`", ""] });
    expect(quoted).toMatchObject({ exitCode: 0, stdout: "a b|it's|$HOME|`id`||", timedOut: false });
    const where = await run({
      command: "sh",
      args: ["-c", 'pwd; printf "%s\\n" "$GREETING" "$FROM_PROFILE"'],
      cwd: workspace,
      env: { GREETING: "hello 'there'" },
    });
    expect(where.stdout).toBe(`${workspace}\nhello 'there'\nprofile-ok\n`);
    expect(logChunks.join("")).toContain("profile-ok");
  });

  it("feeds stdin and reports a non-zero exit with stderr", async () => {
    expect(await run({ command: "cat", stdin: "line one\nline two\n" })).toMatchObject({
      exitCode: 0,
      stdout: "line one\nline two\n",
    });
    expect(await run({ command: "sh", args: ["-c", "echo broken >&2; exit 3"] })).toMatchObject({
      exitCode: 3,
      timedOut: false,
      stdout: "",
      stderr: "broken\n",
    });
    expect((await run({ command: "/no/such/program" })).exitCode).toBe(127);
  });

  it("times out: the remote process is killed and timedOut is set", async () => {
    const tag = `sleep 4${randomBytes(3).readUIntBE(0, 3) % 1000}.5`;
    const started = Date.now();
    const result = await run({ command: "sh", args: ["-c", `echo started; exec ${tag}`], timeoutMs: 500 });
    expect(result).toMatchObject({ timedOut: true, exitCode: null, stdout: "started\n" });
    expect(Date.now() - started).toBeLessThan(10_000);
    let left = "";
    for (let attempt = 0; attempt < 20; attempt++) {
      left = await shell(`ps -eo args= | grep -F -- '${tag}' | grep -v grep || true`);
      if (left === "") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(left).toBe("");
  });

  it("syncs files and directories in, with modes, excludes and post-upload commands", async () => {
    const source = join(world.scratch, "sync-in");
    mkdirSync(join(source, "nested"), { recursive: true });
    mkdirSync(join(source, "node_modules"), { recursive: true });
    writeFileSync(join(source, "a.txt"), "alpha\n");
    const binary = randomBytes(300_000);
    writeFileSync(join(source, "nested", "b.bin"), binary);
    writeFileSync(join(source, "node_modules", "skip.js"), "skip");
    symlinkSync("a.txt", join(source, "link"));
    writeFileSync(join(world.scratch, "secret.env"), "TOKEN=1\n");
    const params: PluginEnvironmentSyncInParams = {
      ...base,
      lease,
      operations: [
        {
          operationId: "op-1",
          files: [
            {
              sourcePath: source,
              targetPath: `${workspace}/tree`,
              kind: "directory",
              exclude: ["node_modules"],
            },
            {
              sourcePath: join(world.scratch, "secret.env"),
              targetPath: `${workspace}/conf/secret.env`,
              kind: "file",
              mode: 0o600,
            },
          ],
          postUploadCommands: [{ command: "cat a.txt > copied.txt", cwd: `${workspace}/tree` }],
        },
      ],
    };
    const result = await world.plugin.definition.onEnvironmentSyncIn!(params);
    expect(result.operations).toHaveLength(1);
    expect(result.operations[0]).toMatchObject({ operationId: "op-1", filesTransferred: 4 });
    expect(result.operations[0]!.bytesTransferred).toBeGreaterThan(binary.length);
    const remote = await shell(
      "cd tree && find . | sort && readlink link && cat copied.txt && sha256sum nested/b.bin && stat -c %a ../conf/secret.env",
    );
    const hash = (await import("node:crypto")).createHash("sha256").update(binary).digest("hex");
    expect(remote).toBe(
      `.\n./a.txt\n./copied.txt\n./link\n./nested\n./nested/b.bin\na.txt\nalpha\n${hash}  nested/b.bin\n600\n`,
    );
  });

  it("fails a sync operation at the first failing post-upload command", async () => {
    const sync = world.plugin.definition.onEnvironmentSyncIn!;
    await expect(
      sync({
        ...base,
        lease,
        operations: [
          {
            operationId: "op-fails",
            files: [],
            postUploadCommands: [{ command: "echo no >&2; exit 7" }, { command: "touch should-not-exist" }],
          },
        ],
      }),
    ).rejects.toThrow(/Post-upload command 1 of sync operation op-fails exited with 7: no/);
    expect((await run({ command: "test", args: ["-e", `${workspace}/should-not-exist`] })).exitCode).toBe(1);
  });

  it("syncs files and directories out, with modes and excludes", async () => {
    await shell(
      "mkdir -p out/sub && echo r > out/r.txt && echo s > out/sub/s.txt && echo x > out/skip.log && ln -s r.txt out/ln",
    );
    const target = join(world.scratch, "sync-out");
    const params: PluginEnvironmentSyncOutParams = {
      ...base,
      lease,
      operations: [
        {
          operationId: "op-out",
          files: [
            {
              sourcePath: `${workspace}/out`,
              targetPath: join(target, "tree"),
              kind: "directory",
              exclude: ["*.log"],
            },
            {
              sourcePath: `${workspace}/out/r.txt`,
              targetPath: join(target, "private", "r.txt"),
              kind: "file",
              mode: 0o640,
            },
          ],
        },
      ],
    };
    const result = await world.plugin.definition.onEnvironmentSyncOut!(params);
    expect(result.operations[0]).toMatchObject({ operationId: "op-out", filesTransferred: 4 });
    expect(result.operations[0]!.bytesTransferred).toBeGreaterThan(0);
    expect(readdirSync(join(target, "tree")).sort()).toEqual(["ln", "r.txt", "sub"]);
    expect(readFileSync(join(target, "tree", "sub", "s.txt"), "utf8")).toBe("s\n");
    expect(readlinkSync(join(target, "tree", "ln"))).toBe("r.txt");
    expect(statSync(join(target, "private", "r.txt")).mode & 0o777).toBe(0o640);
    expect(readdirSync(join(target, "private"))).toEqual(["r.txt"]); // no scratch left beside it
  });

  it("refuses to sync out a tree whose symlink points outside it", async () => {
    await shell("mkdir -p evil && ln -sf /etc/passwd evil/passwd");
    const target = join(world.scratch, "evil-out");
    await expect(
      world.plugin.definition.onEnvironmentSyncOut!({
        ...base,
        lease,
        operations: [
          {
            operationId: "op-evil",
            files: [{ sourcePath: `${workspace}/evil`, targetPath: target, kind: "directory" }],
          },
        ],
      }),
    ).rejects.toThrow(/absolute target/);
    expect(existsSync(join(target, "passwd"))).toBe(false);
  });

  let templateRef: string;
  it("captures the lease's VM as a template (a clone) that new leases start from", async () => {
    await shell("echo from-template > marker.txt");
    const captured = await harness.captureTemplate({
      ...base,
      providerLeaseId: lease.providerLeaseId,
      templateLabel: "base",
    });
    expect(captured.templateKind).toBe("provider_template");
    templateRef = captured.templateRef;
    // Another environment, so that the SDK's lease assertions below see one lease per environment.
    const other = { ...base, environmentId: "env-2", config: { ...base.config, templateVm: templateRef } };
    const fromTemplate = await harness.acquireLease({ ...other, runId: "run-2" });
    const check = await harness.execute({
      ...other,
      lease: fromTemplate,
      command: "cat",
      args: [`${workspace}/marker.txt`],
    });
    expect(check.stdout).toBe("from-template\n");
    await harness.destroyLease({ ...other, providerLeaseId: fromTemplate.providerLeaseId });
    assertExecutionLifecycle(harness.environmentEvents, "env-2");
  });

  it("releases with reuseLease by keeping the VM, and resumes it", async () => {
    expect(await harness.releaseLease({ ...base, providerLeaseId: lease.providerLeaseId })).toBeUndefined();
    expect((await world.api.listVms()).map((vm) => vm.name)).toContain(lease.providerLeaseId);
    const resumed = await harness.resumeLease({
      ...base,
      providerLeaseId: lease.providerLeaseId!,
      leaseMetadata: lease.metadata,
    });
    expect(resumed).toMatchObject({
      providerLeaseId: lease.providerLeaseId,
      metadata: { resumedLease: true },
    });
    lease = resumed;
    expect(await shell("cat marker.txt")).toBe("from-template\n");
  });

  it("destroys the lease, idempotently, and then cannot resume it", async () => {
    const receipt = await harness.destroyLease({ ...base, providerLeaseId: lease.providerLeaseId });
    expect(receipt).toEqual({ providerLeaseId: lease.providerLeaseId, state: "destroyed" });
    expect(await harness.destroyLease({ ...base, providerLeaseId: lease.providerLeaseId })).toEqual(receipt);
    await expect(harness.resumeLease({ ...base, providerLeaseId: lease.providerLeaseId! })).rejects.toThrow(
      /no longer exists/,
    );
  });

  it("deletes the template, and leaves nothing behind", async () => {
    expect(await harness.deleteTemplate({ ...base, templateRef })).toEqual({ deleted: true });
    expect(await harness.deleteTemplate({ ...base, templateRef })).toEqual({ deleted: false });
    expect(await world.api.listVms()).toEqual([]);
    expect(readdirSync(join(world.emulator.dataDir, "vms"))).toEqual([]);
    expect(readdirSync(world.scratch).filter((name) => name.startsWith(".exedev-sync-"))).toEqual([]);
    expect(lstatSync(world.scratch).isDirectory()).toBe(true);
  });

  it("recorded every hook inside the lease, in order, as the SDK's assertions expect", () => {
    const events = harness.environmentEvents;
    // The SDK's helpers end a lease at its first release; the resumed lease is checked by order below.
    const firstLease = events.slice(0, events.findIndex((event) => event.type === "releaseLease") + 1);
    assertLeaseLifecycle(firstLease, "env-1");
    assertWorkspaceRealizationLifecycle(firstLease, "env-1");
    expect(assertExecutionLifecycle(firstLease, "env-1").length).toBeGreaterThan(5);
    assertEnvironmentEventOrder(events, [
      "validateConfig",
      "probe",
      "acquireLease",
      "realizeWorkspace",
      "execute",
      "captureTemplate",
      "releaseLease",
      "resumeLease",
      "destroyLease",
      "deleteTemplate",
    ]);
    const secret = String(base.config.apiKey);
    const logged = JSON.stringify(harness.logs);
    expect(logged).not.toContain(secret);
    expect(logged).not.toContain(String(base.config.privateKey).split("\n")[1]);
  });
});
