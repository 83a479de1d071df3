import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { type ExeDevSandbox, shellQuote } from "@exedev-sandbox/core";
import type {
  PluginEnvironmentSyncInParams,
  PluginEnvironmentSyncResult,
  PluginSyncFileMapping,
  PluginSyncOperation,
} from "@paperclipai/plugin-sdk";
import type { HookContext } from "./hook-context.js";
import { hostPath, modeOf, runChecked, runPostUploadCommands, sandboxPath } from "./sync-commands.js";
import { runSyncHook } from "./sync-hook.js";
import { packDirectory } from "./transfer/host-tar.js";
import { readTarEntries } from "./transfer/tar-reader.js";

/** Uploads at once per operation; each upload is itself a pipelined SFTP transfer. */
const PARALLEL_UPLOADS = 4;

interface Totals {
  files: number;
  bytes: number;
}

async function countMembers(archive: string): Promise<number> {
  const handle = await open(archive, "r");
  try {
    let count = 0;
    for await (const entry of readTarEntries(handle)) if (entry.type !== "directory") count++;
    return count;
  } finally {
    await handle.close();
  }
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Uploads one operation: files over pipelined SFTP, each directory as one tar archive unpacked
 * by one command on the VM, then the requested modes, then the post-upload commands.
 */
async function syncInOperation(
  sandbox: ExeDevSandbox,
  operation: PluginSyncOperation,
  defaults: { cwd: string; timeoutMs: number },
): Promise<Totals> {
  const totals: Totals = { files: 0, bytes: 0 };
  const steps: string[] = [];
  const staged: string[] = [];
  const scratch = await mkdtemp(join(tmpdir(), "exedev-paperclip-sync-"));
  try {
    const upload = async (mapping: PluginSyncFileMapping, index: number): Promise<void> => {
      const source = hostPath(mapping.sourcePath, "sourcePath");
      const target = sandboxPath(mapping.targetPath, "targetPath");
      const mode = modeOf(mapping);
      if (mapping.kind === "directory") {
        const archive = join(scratch, `${index}.tar`);
        await packDirectory({
          source,
          archive,
          exclude: mapping.exclude,
          followSymlinks: mapping.followSymlinks,
        });
        const remoteArchive = posix.join(
          posix.dirname(target),
          `.exedev-sync-${randomBytes(6).toString("hex")}.tar`,
        );
        staged.push(remoteArchive);
        await sandbox.uploadFile(archive, remoteArchive);
        // Awaited before adding: `totals.x += await ...` would lose a parallel upload's update.
        const members = await countMembers(archive);
        const { size } = await stat(archive);
        totals.files += members;
        totals.bytes += size;
        // -o: files belong to the VM user, whatever uid they had on the host.
        steps.push(
          `mkdir -p -- ${shellQuote(target)} && tar -x -o -f ${shellQuote(remoteArchive)} -C ${shellQuote(target)}; s=$?; rm -f -- ${shellQuote(remoteArchive)}; [ $s -eq 0 ] || exit $s`,
        );
      } else {
        const info = await stat(source);
        if (!info.isFile()) throw new Error(`sourcePath ${source} is not a regular file.`);
        await sandbox.uploadFile(source, target);
        totals.files += 1;
        totals.bytes += info.size;
      }
      if (mode !== undefined) steps.push(`chmod ${mode} -- ${shellQuote(target)}`);
    };
    const indexed = operation.files.map((mapping, index) => ({ mapping, index }));
    await inParallel(indexed, PARALLEL_UPLOADS, ({ mapping, index }) => upload(mapping, index));
    if (steps.length > 0) {
      await runChecked(sandbox, steps.join("\n"), `Unpacking sync operation ${operation.operationId}`, {
        timeoutMs: defaults.timeoutMs,
      });
    }
  } catch (error) {
    // Archives uploaded before the failure would otherwise stay on the VM.
    if (staged.length > 0) {
      await sandbox
        .exec(`rm -f -- ${staged.map(shellQuote).join(" ")}`, { timeoutMs: 30_000 })
        .catch(() => {});
    }
    throw error;
  } finally {
    await rm(scratch, { recursive: true, force: true });
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
