import { constants } from "node:fs";
import { chmod, copyFile, type FileHandle, lstat, mkdir, open, symlink, unlink } from "node:fs/promises";
import { join, posix, relative, resolve, sep } from "node:path";
import { readTarEntries, type TarEntry } from "./tar-reader.js";

/** What an extraction wrote. */
export interface ExtractResult {
  /** Files, symlinks and hard links written (directories not counted). */
  files: number;
  /** Bytes of file content written. */
  bytes: number;
}

const COPY_CHUNK = 1 << 20;

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** A member path as a relative POSIX path inside the root ("" for the root), or an error if it would leave it. */
function confined(name: string, what: string): string {
  const normalized = posix.normalize(name.replace(/^(\.\/)+/, ""));
  if (name.includes("\0") || posix.isAbsolute(name) || normalized === ".." || normalized.startsWith("../")) {
    throw new Error(`Refusing a tar ${what} that leaves the target directory: ${JSON.stringify(name)}.`);
  }
  return normalized === "." ? "" : normalized.replace(/\/+$/, "");
}

/**
 * Writes an untrusted archive (made on the VM) under `root` on this host. Nothing is written
 * outside `root`: absolute and `..` member names are refused, symlinks must point inside the
 * tree, no write ever goes through a symlink (parents are checked, files are created with
 * O_EXCL|O_NOFOLLOW), setuid/setgid bits are dropped, and ownership is never restored.
 */
export async function extractTar(archivePath: string, root: string): Promise<ExtractResult> {
  const base = resolve(root);
  const checkedDirs = new Set<string>([base]);
  // Regular files this extraction wrote; the only thing a hard link may copy.
  const written = new Set<string>();
  const directoryModes: [string, number][] = [];
  const result: ExtractResult = { files: 0, bytes: 0 };

  const ensureParents = async (path: string): Promise<void> => {
    let current = base;
    for (const part of relative(base, path).split(sep).slice(0, -1)) {
      current = join(current, part);
      if (checkedDirs.has(current)) continue;
      const info = await lstat(current).catch((error) =>
        errno(error) === "ENOENT" ? undefined : Promise.reject(error),
      );
      if (!info) await mkdir(current);
      else if (info.isSymbolicLink())
        throw new Error(`Refusing to write through the symbolic link ${current}.`);
      else if (!info.isDirectory()) throw new Error(`Cannot extract into ${current}: it is not a directory.`);
      checkedDirs.add(current);
    }
  };
  // Removes whatever is at a leaf (never following it), so the new entry is created fresh.
  const clearLeaf = async (path: string): Promise<void> => {
    const info = await lstat(path).catch(() => undefined);
    if (!info) return;
    if (info.isDirectory()) throw new Error(`Refusing to replace the directory ${path} with a file.`);
    await unlink(path);
    written.delete(path);
  };

  await mkdir(base, { recursive: true });
  const archive = await open(archivePath, "r");
  try {
    for await (const entry of readTarEntries(archive)) {
      const rel = confined(entry.name, "member");
      if (rel === "") continue;
      const path = join(base, rel);
      await ensureParents(path);
      if (entry.type === "directory") {
        const info = await lstat(path).catch(() => undefined);
        if (info && !info.isDirectory()) await unlink(path);
        if (!info?.isDirectory()) await mkdir(path);
        checkedDirs.add(path);
        directoryModes.push([path, entry.mode & 0o777]);
      } else if (entry.type === "file") {
        await clearLeaf(path);
        await writeMember(archive, entry, path);
        written.add(path);
        result.files++;
        result.bytes += entry.size;
      } else if (entry.type === "symlink") {
        if (posix.isAbsolute(entry.linkName)) {
          throw new Error(`Refusing a tar symlink with an absolute target: ${JSON.stringify(entry.name)}.`);
        }
        confined(posix.join(posix.dirname(rel), entry.linkName), "symlink target");
        await clearLeaf(path);
        await symlink(entry.linkName, path);
        result.files++;
      } else if (entry.type === "hardlink") {
        const source = join(base, confined(entry.linkName, "hard link target"));
        if (!written.has(source)) {
          throw new Error(
            `Refusing a tar hard link to a file not in the archive: ${JSON.stringify(entry.name)}.`,
          );
        }
        await clearLeaf(path);
        await copyFile(source, path, constants.COPYFILE_EXCL);
        written.add(path);
        result.files++;
      }
    }
  } finally {
    await archive.close();
  }
  // Last, deepest first, so that a read-only directory did not block writing its contents. The
  // owner keeps full access so that the Paperclip host can sync into or clean up the tree again.
  for (const [path, mode] of directoryModes.reverse()) await chmod(path, mode | 0o700);
  return result;
}

async function writeMember(archive: FileHandle, entry: TarEntry, path: string): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const out = await open(path, flags, entry.mode & 0o777);
  try {
    const buffer = Buffer.alloc(Math.min(COPY_CHUNK, Math.max(entry.size, 1)));
    let copied = 0;
    while (copied < entry.size) {
      const want = Math.min(buffer.length, entry.size - copied);
      const { bytesRead } = await archive.read(buffer, 0, want, entry.dataOffset + copied);
      if (bytesRead === 0) throw new Error("Truncated tar archive.");
      await out.write(buffer, 0, bytesRead);
      copied += bytesRead;
    }
    // The mode given to open() is narrowed by the umask; set it exactly, minus setuid/setgid.
    await out.chmod(entry.mode & 0o777);
  } finally {
    await out.close();
  }
}
