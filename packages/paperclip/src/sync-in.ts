import { stat } from "node:fs/promises";
import { type ExeDevSandbox, SandboxError, shellQuote } from "@exedev-sandbox/core";
import type {
  PluginEnvironmentSyncInParams,
  PluginEnvironmentSyncResult,
  PluginSyncFileMapping,
  PluginSyncOperation,
} from "@paperclipai/plugin-sdk";
import type { HookContext } from "./hook-context.js";
import { hostPath, modeOf, runChecked, runPostUploadCommands, sandboxPath } from "./sync-commands.js";
import { runSyncHook, type SyncDefaults } from "./sync-hook.js";

/** Uploads at once per operation; each is itself one pipelined transfer. */
const PARALLEL_UPLOADS = 4;

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Uploads one operation: files with uploadFile, each directory as one tar stream
 * (core's uploadDirectory), then the requested modes, then the post-upload commands.
 */
async function syncInOperation(
  sandbox: ExeDevSandbox,
  operation: PluginSyncOperation,
  defaults: SyncDefaults,
): Promise<{ files: number; bytes: number }> {
  const totals = { files: 0, bytes: 0 };
  const modes: string[] = [];
  await inParallel(operation.files, PARALLEL_UPLOADS, async (mapping: PluginSyncFileMapping) => {
    const source = hostPath(mapping.sourcePath, "sourcePath");
    const target = sandboxPath(mapping.targetPath, "targetPath");
    const mode = modeOf(mapping);
    if (mapping.kind === "directory") {
      const moved = await sandbox.uploadDirectory(source, target, {
        exclude: mapping.exclude ?? [],
        followSymlinks: mapping.followSymlinks === true,
      });
      totals.files += moved.files;
      totals.bytes += moved.bytes;
    } else {
      const info = await stat(source);
      if (!info.isFile())
        throw new SandboxError("invalid_argument", `sourcePath ${source} is not a regular file.`);
      await sandbox.uploadFile(source, target);
      totals.files += 1;
      totals.bytes += info.size;
    }
    if (mode !== undefined) modes.push(`chmod ${mode} -- ${shellQuote(target)}`);
  });
  if (modes.length > 0) {
    await runChecked(
      sandbox,
      modes.join(" && "),
      `Setting modes of sync operation ${operation.operationId}`,
      {
        timeoutMs: defaults.timeoutMs,
      },
    );
  }
  await runPostUploadCommands(sandbox, operation.operationId, operation.postUploadCommands, defaults);
  return totals;
}

/** Copies host files and directories onto the lease's VM, operation by operation. */
export function syncIn(
  context: HookContext,
  params: PluginEnvironmentSyncInParams,
): Promise<PluginEnvironmentSyncResult> {
  return runSyncHook(context, params, syncInOperation);
}
