import { chmod, mkdir, mkdtemp, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ExeDevSandbox } from "@exedev-sandbox/core";
import type {
  PluginEnvironmentSyncOutParams,
  PluginEnvironmentSyncResult,
  PluginSyncFileMapping,
  PluginSyncOperation,
} from "@paperclipai/plugin-sdk";
import type { HookContext } from "./hook-context.js";
import { hostPath, modeOf, runPostUploadCommands, sandboxPath } from "./sync-commands.js";
import { runSyncHook, type SyncDefaults } from "./sync-hook.js";

interface Totals {
  files: number;
  bytes: number;
}

/**
 * Downloads one file. It lands in a private (0700) directory beside the target, gets its mode
 * there, and is renamed into place, so no other host user can read it at any point.
 */
async function downloadFile(sandbox: ExeDevSandbox, mapping: PluginSyncFileMapping): Promise<Totals> {
  const source = sandboxPath(mapping.sourcePath, "sourcePath");
  const target = hostPath(mapping.targetPath, "targetPath");
  await mkdir(dirname(target), { recursive: true });
  const privateDir = await mkdtemp(join(dirname(target), ".exedev-sync-"));
  try {
    const landed = join(privateDir, "file");
    await sandbox.downloadFile(source, landed);
    if (mapping.mode !== undefined && mapping.mode !== null) await chmod(landed, mapping.mode);
    const { size } = await stat(landed);
    await rename(landed, target);
    return { files: 1, bytes: size };
  } finally {
    await rm(privateDir, { recursive: true, force: true });
  }
}

/**
 * Downloads one directory with core's downloadDirectory (one tar stream, excludes applied on the
 * VM, unpacked by its confining extractor). A requested mode is set on the target before any
 * byte arrives, as the SDK requires for host targets.
 */
async function downloadDirectory(sandbox: ExeDevSandbox, mapping: PluginSyncFileMapping): Promise<Totals> {
  const source = sandboxPath(mapping.sourcePath, "sourcePath");
  const target = hostPath(mapping.targetPath, "targetPath");
  modeOf(mapping);
  if (mapping.mode !== undefined && mapping.mode !== null) {
    await mkdir(target, { recursive: true, mode: mapping.mode });
    await chmod(target, mapping.mode);
  }
  return sandbox.downloadDirectory(source, target, {
    exclude: mapping.exclude ?? [],
    followSymlinks: mapping.followSymlinks === true,
  });
}

async function syncOutOperation(
  sandbox: ExeDevSandbox,
  operation: PluginSyncOperation,
  defaults: SyncDefaults,
): Promise<Totals> {
  const totals: Totals = { files: 0, bytes: 0 };
  for (const mapping of operation.files) {
    const moved =
      mapping.kind === "directory"
        ? await downloadDirectory(sandbox, mapping)
        : await downloadFile(sandbox, mapping);
    totals.files += moved.files;
    totals.bytes += moved.bytes;
  }
  await runPostUploadCommands(sandbox, operation.operationId, operation.postUploadCommands, defaults);
  return totals;
}

/** Copies files and directories from the lease's VM to the Paperclip host, operation by operation. */
export function syncOut(
  context: HookContext,
  params: PluginEnvironmentSyncOutParams,
): Promise<PluginEnvironmentSyncResult> {
  return runSyncHook(context, params, syncOutOperation);
}
