import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { SandboxError } from "../errors.js";
import type { DirectoryTransferOptions, DirectoryTransferResult } from "../sandbox.js";
import { shellQuote } from "../ssh/shell-quote.js";
import { checkLocalPath, checkRemotePath } from "../validate.js";
import { extractTar } from "./tar-extract.js";
import {
  checkTransferOptions,
  localError,
  remoteStepError,
  throwIfAborted,
  untilAborted,
} from "./transfer-options.js";
import { CLEANUP_TIMEOUT_MS, type TransferSandbox } from "./upload-directory.js";

/** Packs a VM directory's contents into a new private archive; excludes applied there. */
function packScript(source: string, archive: string, exclude: string[], followSymlinks: boolean): string {
  const flags = [
    ...(followSymlinks ? ["-h"] : []),
    ...exclude.map((pattern) => shellQuote(`--exclude=${pattern}`)),
  ].join(" ");
  return [
    `d=${shellQuote(source)}; a=${shellQuote(archive)}`,
    '[ -d "$d" ] || { [ -e "$d" ] && exit 4; exit 3; }',
    'cd -- "$d" || exit 5',
    '(umask 077; set -C; : > "$a") || exit 6',
    `tar -c ${flags} -f "$a" .; s=$?`,
    '[ $s -eq 0 ] || rm -f -- "$a"',
    "exit $s",
  ].join("\n");
}

/** {@link Sandbox.downloadDirectory} over any sandbox's exec and downloadFile. */
export async function downloadDirectory(
  sandbox: TransferSandbox,
  remoteDir: string,
  localDir: string,
  options?: DirectoryTransferOptions,
): Promise<DirectoryTransferResult> {
  const remote = checkRemotePath(remoteDir, "remoteDir");
  const local = resolve(checkLocalPath(localDir, "localDir"));
  const { exclude, followSymlinks, signal } = checkTransferOptions(options, "downloadDirectory");
  throwIfAborted(signal);
  const existing = await stat(local).then(
    (info) => info,
    (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw localError(error, `downloadDirectory: reading ${local}`);
    },
  );
  if (existing && !existing.isDirectory()) {
    throw new SandboxError("not_a_directory", `downloadDirectory: ${local} is not a directory.`, {
      details: { localPath: local },
    });
  }
  // Private (0700) and beside the target: no other user sees the tree before it is complete,
  // and the rename into place stays on one file system.
  const scratch = await mkdir(dirname(local), { recursive: true })
    .then(() => mkdtemp(join(dirname(local), ".exedev-download-")))
    .catch((error: unknown) => {
      throw localError(error, "downloadDirectory: making a scratch directory");
    });
  const remoteArchive = `/tmp/.exedev-download-${randomBytes(6).toString("hex")}.tar`;
  const removeRemote = () =>
    sandbox.exec(`rm -f -- ${shellQuote(remoteArchive)}`, { timeoutMs: CLEANUP_TIMEOUT_MS }).then(
      () => {},
      () => {},
    );
  let inFlight: Promise<unknown> = Promise.resolve();
  let removing: Promise<void> | undefined;
  try {
    const packed = await sandbox.exec(
      packScript(remote, remoteArchive, exclude, followSymlinks),
      signal ? { signal } : {},
    );
    if (packed.exitCode !== 0) {
      // BusyBox tar (Alpine, some minimal images) has no --exclude.
      if (exclude.length > 0 && /unrecognized option|unknown option|invalid option/i.test(packed.stderr)) {
        throw new SandboxError(
          "unsupported",
          "downloadDirectory: the VM's tar takes no --exclude (BusyBox tar does not); install GNU tar on the VM or download without exclude.",
          { details: { path: remote } },
        );
      }
      throw remoteStepError(packed, `Packing ${remote}`, remote, {
        3: ["not_found", `downloadDirectory: ${remote} does not exist on the VM.`],
        4: ["not_a_directory", `downloadDirectory: ${remote} is not a directory on the VM.`],
        5: ["permission_denied", `downloadDirectory: cannot enter ${remote} on the VM.`],
        6: ["io_error", "downloadDirectory: cannot create the archive in /tmp on the VM."],
      });
    }
    const archive = join(scratch, "tree.tar");
    const downloading = sandbox.downloadFile(remoteArchive, archive, signal ? { signal } : {});
    inFlight = downloading.catch(() => {});
    await untilAborted(downloading, signal);
    // The VM's copy goes while this host unpacks.
    removing = removeRemote();
    const root = existing ? local : join(scratch, "tree");
    const counts = await extractTar(archive, root, signal ? { signal } : {}).catch((error: unknown) => {
      throw localError(error, `downloadDirectory: unpacking into ${local}`);
    });
    if (!existing) {
      await rename(root, local).catch((error: unknown) => {
        throw localError(error, `downloadDirectory: moving the tree to ${local}`);
      });
    }
    return counts;
  } finally {
    const cleanup = inFlight.then(() =>
      Promise.all([
        removing ?? removeRemote(),
        rm(scratch, { recursive: true, force: true }).catch(() => {}),
      ]),
    );
    // An abort answers at once; anything else answers once both sides are clean.
    if (signal?.aborted) cleanup.catch(() => {});
    else await cleanup.catch(() => {});
  }
}
