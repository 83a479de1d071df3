import { chmod, mkdir, mkdtemp, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type ExeDevSandbox, shellQuote } from "@exedev-sandbox/core";
import type {
  PluginEnvironmentSyncOutParams,
  PluginEnvironmentSyncResult,
  PluginSyncFileMapping,
  PluginSyncOperation,
} from "@paperclipai/plugin-sdk";
import type { HookContext } from "./hook-context.js";
import { hostPath, modeOf, runChecked, runPostUploadCommands, sandboxPath } from "./sync-commands.js";
import { runSyncHook } from "./sync-hook.js";
import { extractTar } from "./transfer/tar-extract.js";

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
 * Downloads one directory as a single tar archive made on the VM (excludes applied there), then
 * unpacks it on the host with the confining extractor.
 */
async function downloadDirectory(
  sandbox: ExeDevSandbox,
  mapping: PluginSyncFileMapping,
  timeoutMs: number,
): Promise<Totals> {
  const source = sandboxPath(mapping.sourcePath, "sourcePath");
  const target = hostPath(mapping.targetPath, "targetPath");
  modeOf(mapping);
  const options = [
    ...(mapping.followSymlinks ? ["-h"] : []),
    ...(mapping.exclude ?? []).map((pattern) => shellQuote(`--exclude=${pattern}`)),
  ].join(" ");
  const pack = [
    "a=$(mktemp) || exit 1",
    `cd -- ${shellQuote(source)} || { rm -f -- "$a"; exit 1; }`,
    `tar -c ${options} -f "$a" . || { s=$?; rm -f -- "$a"; exit $s; }`,
    `printf '%s\\n' "$a"`,
  ].join("\n");
  const stdout = await runChecked(sandbox, pack, `Packing ${source} on the VM`, { timeoutMs });
  const remoteArchive = stdout.trim().split("\n").pop() ?? "";
  const scratch = await mkdtemp(join(tmpdir(), "exedev-paperclip-sync-"));
  try {
    const archive = join(scratch, "out.tar");
    await sandbox.downloadFile(remoteArchive, archive);
    await mkdir(target, { recursive: true, mode: mapping.mode ?? 0o777 });
    if (mapping.mode !== undefined && mapping.mode !== null) await chmod(target, mapping.mode);
    const extracted = await extractTar(archive, target);
    return { files: extracted.files, bytes: (await stat(archive)).size };
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await sandbox.exec(`rm -f -- ${shellQuote(remoteArchive)}`, { timeoutMs: 30_000 }).catch(() => {});
  }
}

async function syncOutOperation(
  sandbox: ExeDevSandbox,
  operation: PluginSyncOperation,
  defaults: { cwd: string; timeoutMs: number },
): Promise<Totals> {
  const totals: Totals = { files: 0, bytes: 0 };
  for (const mapping of operation.files) {
    const moved =
      mapping.kind === "directory"
        ? await downloadDirectory(sandbox, mapping, defaults.timeoutMs)
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
