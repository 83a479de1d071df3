import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { invalidArgument, SandboxError } from "../errors.js";
import type { DirectoryTransferOptions, DirectoryTransferResult, Sandbox } from "../sandbox.js";
import { shellQuote } from "../ssh/shell-quote.js";
import { checkLocalPath, checkRemotePath } from "../validate.js";
import { countArchive } from "./archive-counts.js";
import { packDirectory } from "./host-tar.js";
import {
  checkTransferOptions,
  localError,
  remoteStepError,
  throwIfAborted,
  untilAborted,
} from "./transfer-options.js";

/** What a directory transfer needs of a sandbox. */
export type TransferSandbox = Pick<Sandbox, "exec" | "uploadFile" | "downloadFile">;

/** How long the clean-up of a failed transfer may take on the VM. */
export const CLEANUP_TIMEOUT_MS = 30_000;

/**
 * Unpacks a staged archive. An existing directory is merged into; a missing one is unpacked
 * into a staging directory beside it and renamed into place, so it never exists half made.
 * `-o`: files belong to the VM user, whatever uid they had on the host.
 */
function unpackScript(archive: string, staging: string, target: string): string {
  return [
    `a=${shellQuote(archive)}; t=${shellQuote(staging)}; d=${shellQuote(target)}`,
    'if [ -d "$d" ]; then tar -x -o -f "$a" -C "$d"; s=$?',
    'elif [ -e "$d" ] || [ -L "$d" ]; then s=3',
    'else mkdir -- "$t" && tar -x -o -f "$a" -C "$t" && mv -- "$t" "$d"; s=$?; [ $s -eq 0 ] || rm -rf -- "$t"',
    "fi",
    'rm -f -- "$a"',
    "exit $s",
  ].join("\n");
}

/** {@link Sandbox.uploadDirectory} over any sandbox's exec and uploadFile. */
export async function uploadDirectory(
  sandbox: TransferSandbox,
  localDir: string,
  remoteDir: string,
  options?: DirectoryTransferOptions,
): Promise<DirectoryTransferResult> {
  const local = checkLocalPath(localDir, "localDir");
  const remote = checkRemotePath(remoteDir, "remoteDir");
  if (remote === "/") throw invalidArgument("uploadDirectory: remoteDir must not be the root directory.");
  const { exclude, followSymlinks, signal } = checkTransferOptions(options, "uploadDirectory");
  throwIfAborted(signal);
  const info = await stat(local).catch((error: unknown) => {
    throw localError(error, `uploadDirectory: reading ${local}`);
  });
  if (!info.isDirectory()) {
    throw new SandboxError("not_a_directory", `uploadDirectory: ${local} is not a directory.`, {
      details: { localPath: local },
    });
  }
  const scratch = await mkdtemp(join(tmpdir(), "exedev-upload-")).catch((error: unknown) => {
    throw localError(error, "uploadDirectory: making a scratch directory");
  });
  // The upload goes on when an abort rejects the call; the VM is cleaned once it settles.
  let inFlight: Promise<unknown> = Promise.resolve();
  let finished = false;
  let sent = false;
  const tag = randomBytes(6).toString("hex");
  // Not named after the target: a long name plus a suffix could pass the 255-byte name limit.
  const stem = `${posix.dirname(remote)}/.exedev-upload-${tag}`;
  try {
    const archive = join(scratch, "tree.tar");
    await packDirectory({ source: local, archive, exclude, followSymlinks, ...(signal ? { signal } : {}) });
    const counts = await countArchive(archive);
    throwIfAborted(signal);
    sent = true;
    const uploading = sandbox.uploadFile(archive, `${stem}.tar`, signal ? { signal } : {});
    inFlight = uploading.catch(() => {});
    await untilAborted(uploading, signal);
    const result = await sandbox.exec(unpackScript(`${stem}.tar`, stem, remote), signal ? { signal } : {});
    if (result.exitCode !== 0) {
      throw remoteStepError(result, `Unpacking into ${remote}`, remote, {
        3: ["not_a_directory", `uploadDirectory: ${remote} exists on the VM and is not a directory.`],
      });
    }
    finished = true;
    return counts;
  } finally {
    const cleanup = inFlight.then(() =>
      Promise.all([
        rm(scratch, { recursive: true, force: true }).catch(() => {}),
        // Nothing to remove on the VM when the archive never set off.
        finished || !sent
          ? undefined
          : sandbox
              .exec(`rm -rf -- ${shellQuote(`${stem}.tar`)} ${shellQuote(stem)}`, {
                timeoutMs: CLEANUP_TIMEOUT_MS,
              })
              .catch(() => {}),
      ]),
    );
    // An abort answers at once; anything else answers once both machines are clean.
    if (signal?.aborted) cleanup.catch(() => {});
    else await cleanup.catch(() => {});
  }
}
