import { constants } from "node:fs";
import { copyFile, type FileHandle, lstat, mkdir, open, realpath, symlink, unlink } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { checkLinkTarget, memberComponents } from "./member-paths.js";
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

function inside(base: string, path: string): boolean {
  const rel = relative(base, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep));
}

/**
 * Where `path` leads now, through every link: the longest prefix that exists, resolved by the
 * kernel (never as text), with the missing rest appended.
 */
async function resolvedNow(path: string): Promise<string> {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(await realpath(current), ...missing.reverse());
    } catch (error) {
      if (errno(error) !== "ENOENT" && errno(error) !== "ENOTDIR") throw error;
      const parent = dirname(current);
      if (parent === current) return path;
      missing.push(current.slice(parent.length + 1));
      current = parent;
    }
  }
}

/**
 * Writes an untrusted archive (made on the VM) under `root` on this host. Nothing is written
 * outside `root` and no link left in it leads outside: absolute member names and any `..` in
 * them are refused; a symlink's target may climb only with leading `..` and must resolve (by the
 * kernel, through the links already there) inside the root; no write ever goes through a link
 * (each parent is checked with lstat, files are created with O_EXCL|O_NOFOLLOW, directory modes
 * are set through O_NOFOLLOW handles); hard links only copy regular files this extraction wrote;
 * setuid/setgid bits are dropped, and ownership is never restored.
 */
export async function extractTar(archivePath: string, root: string): Promise<ExtractResult> {
  await mkdir(root, { recursive: true });
  // Physical from here on: every check below compares real paths, never text.
  const base = await realpath(root);
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
      const info = await lstat(current).catch((error: unknown) =>
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

  const archive = await open(archivePath, "r");
  try {
    for await (const entry of readTarEntries(archive)) {
      const parts = memberComponents(entry.name, "member");
      if (parts.length === 0) continue;
      const path = join(base, ...parts);
      await ensureParents(path);
      if (entry.type === "directory") {
        const info = await lstat(path).catch(() => undefined);
        if (info && !info.isDirectory()) {
          await unlink(path);
          written.delete(path);
        }
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
        checkLinkTarget(entry.name, entry.linkName, parts.length - 1);
        // The text is fine; the links already in the tree (the host's own, say) must be too.
        const leadsTo = await resolvedNow(`${dirname(path)}/${entry.linkName}`).catch(() => undefined);
        if (leadsTo === undefined || !inside(base, leadsTo)) {
          throw new Error(
            `Refusing a tar symlink with a symlink target that leaves the target directory: ${JSON.stringify(entry.name)}.`,
          );
        }
        await clearLeaf(path);
        await symlink(entry.linkName, path);
        result.files++;
      } else if (entry.type === "hardlink") {
        const source = join(base, ...memberComponents(entry.linkName, "hard link target"));
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
  for (const [path, mode] of directoryModes.reverse()) await chmodDirectory(path, mode | 0o700);
  return result;
}

/** chmod that acts on the directory itself and fails rather than follow a link at `path`. */
async function chmodDirectory(path: string, mode: number): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
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
