import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { escapingLinks } from "@exedev-sandbox/testing";
import type { PluginEnvironmentLease, PluginSyncFileMapping } from "@paperclipai/plugin-sdk";
import type { EnvironmentTestHarness } from "@paperclipai/plugin-sdk/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DRIVER_KEY } from "./manifest.js";
import { harnessFor, startTestEmulator, type TestEmulator } from "./test-emulator.js";

// A VM is untrusted: whatever it plants in a tree it syncs out must not give it the host files
// beside the target. The plugin's own known_hosts sits in scratch, right next to the targets.
describe("sync-out of a tree with links planted on the VM", () => {
  let world: TestEmulator;
  let harness: EnvironmentTestHarness;
  let lease: PluginEnvironmentLease;
  let workspace: string;
  let base: { driverKey: string; companyId: string; environmentId: string; config: Record<string, unknown> };

  const shell = async (script: string) => {
    const result = await harness.execute({
      ...base,
      lease,
      command: "sh",
      args: ["-c", script],
      cwd: workspace,
    });
    expect(result.exitCode, result.stderr).toBe(0);
    return result.stdout;
  };
  const syncOut = (operationId: string, files: PluginSyncFileMapping[]) =>
    world.plugin.definition.onEnvironmentSyncOut!({ ...base, lease, operations: [{ operationId, files }] });
  const syncIn = (operationId: string, files: PluginSyncFileMapping[]) =>
    world.plugin.definition.onEnvironmentSyncIn!({ ...base, lease, operations: [{ operationId, files }] });
  const outcome = (promise: Promise<unknown>) =>
    promise.then(
      () => "resolved",
      (error: Error) => `rejected: ${error.message}`,
    );

  beforeAll(async () => {
    world = await startTestEmulator();
    harness = await harnessFor(world.plugin);
    base = {
      driverKey: DRIVER_KEY,
      companyId: "company-1",
      environmentId: "env-escape",
      config: { ...world.config, reuseLease: true, timeoutMs: 20_000 },
    };
    lease = await harness.acquireLease({ ...base, runId: "run-escape" });
    workspace = String(lease.metadata?.remoteCwd);
    await shell(`mkdir -p "${workspace}"`);
  });
  afterAll(async () => {
    if (lease) await harness.destroyLease({ ...base, providerLeaseId: lease.providerLeaseId });
    await world?.stop();
  });

  // Soft: on a tree that escapes, every one of list, read and write is reported, not just the first.
  it("neither lists, reads nor writes host files beside the target through a link chain", async () => {
    const knownHosts = join(world.scratch, "known_hosts");
    const hostKeys = readFileSync(knownHosts, "utf8");
    expect(hostKeys).not.toBe("");
    const before = readdirSync(world.scratch).sort();
    // s2 reads as "." and kh as "known_hosts" (both harmless as text), but through s1 they mean
    // the target's parent, which is the plugin's scratch, and the plugin's own known_hosts.
    await shell(
      "mkdir -p chain && cd chain && ln -s . s1 && ln -s s1/.. s2 && ln -s s1/../known_hosts kh && echo payload > f",
    );
    const target = join(world.scratch, "out");

    const first = await outcome(
      syncOut("op-chain", [{ sourcePath: `${workspace}/chain`, targetPath: target, kind: "directory" }]),
    );
    expect.soft(first).toMatch(/^rejected: .*symlink target that leaves the target directory/);
    // A refused tree never appears at all (core unpacks a new target beside it, then renames).
    expect.soft(existsSync(target)).toBe(false);

    // Read: syncing what came out back in, as a file or as a tree that dereferences links (s1
    // excluded: host tar crashes on a link to its own directory), must not carry host files.
    await outcome(
      syncIn("op-back-file", [
        { sourcePath: join(target, "kh"), targetPath: `${workspace}/back/kh`, kind: "file" },
      ]),
    );
    await outcome(
      syncIn("op-back-tree", [
        {
          sourcePath: target,
          targetPath: `${workspace}/back/tree`,
          kind: "directory",
          followSymlinks: true,
          exclude: ["s1", "s2"],
        },
      ]),
    );
    const landed = await shell("mkdir -p back && cd back && find . | sort && find . -type f -exec cat {} +");
    expect.soft(landed).not.toContain(hostKeys.trim().split("\n")[0]!.slice(0, 40));

    // Write: a later mapping whose host path goes through the planted link.
    await outcome(
      syncOut("op-write", [
        { sourcePath: `${workspace}/chain/f`, targetPath: join(target, "s2", "known_hosts"), kind: "file" },
        { sourcePath: `${workspace}/chain`, targetPath: join(target, "s2", "planted"), kind: "directory" },
      ]),
    );
    expect.soft(readFileSync(knownHosts, "utf8")).toBe(hostKeys);
    expect.soft(existsSync(join(world.scratch, "planted"))).toBe(false);
    expect.soft(readdirSync(world.scratch).sort()).toEqual([...new Set([...before, "out"])].sort());
    expect.soft(escapingLinks(target)).toEqual([]);
  });
});
