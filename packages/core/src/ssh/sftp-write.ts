import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { throwIfAborted } from "./file-abort.js";
import { CHUNK_BYTES, PIPELINE_DEPTH } from "./sftp-read.js";
import type { SftpScope } from "./sftp-session.js";

/** A fresh temp name next to `path` (same directory, so the final rename stays on one file system). */
export function tempNameFor(path: string): string {
  return posix.join(posix.dirname(path), `.${posix.basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
}

/** Runs `worker` over `items` with at most `limit` in flight. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  worker: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await worker(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

/**
 * Creates `temp` (which must not exist) and writes `bytes` to it within one SFTP session: open,
 * pipelined writes, fchmod, close. The handle is only valid on `scope`'s session, so none of
 * these requests is ever sent again elsewhere; the caller renames the file into place.
 */
export async function writeTempFile(
  scope: SftpScope,
  temp: string,
  bytes: Buffer,
  mode: number | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const handle = await scope.call<Buffer>(
    "open",
    (s, done) => s.open(temp, "wx", mode === undefined ? {} : { mode }, done),
    temp,
  );
  try {
    const offsets: number[] = [];
    for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) offsets.push(offset);
    await forEachLimited(offsets, PIPELINE_DEPTH, (offset) => {
      // An aborted write stops sending; the caller removes the temp file.
      throwIfAborted(signal);
      return scope.call(
        "write",
        (s, done) =>
          s.write(handle, bytes, offset, Math.min(CHUNK_BYTES, bytes.length - offset), offset, done),
        temp,
      );
    });
    // The server's umask applied at open; set the mode exactly.
    if (mode !== undefined) await scope.call("fchmod", (s, done) => s.fchmod(handle, mode, done), temp);
  } catch (error) {
    // The write failed already; its error is the one to report, whatever the close does.
    scope.call("close", (s, done) => s.close(handle, done), temp).catch(() => {});
    throw error;
  }
  // Data reaches the file before close answers; only then may it be renamed into place.
  await scope.call("close", (s, done) => s.close(handle, done), temp);
}
