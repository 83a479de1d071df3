import {
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  realpathSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { mkdir, open, realpath } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { SandboxError } from "../errors.js";
import { abortedError } from "../ssh/semaphore.js";
import { corruptArchive, refusedMember } from "./archive-errors.js";
import { checkLinkTarget, memberComponents } from "./member-paths.js";
import { ArchiveReader, readTarEntries, type TarEntry } from "./tar-reader.js";

/** What an extraction wrote. */
export interface ExtractResult {
  /** Files, symlinks and hard links written (directories not counted). */
  files: number;
  /** Bytes of file content written. */
  bytes: number;
}

const COPY_CHUNK = 1 << 20;
// The per-member calls are synchronous (a thread-pool hop per call made 5,000 small files take
// seconds); the event loop gets a turn at least this often.
const YIELD_EVERY_MS = 10;

const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve));

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
function resolvedNow(path: string): string {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      // .native: the JS realpathSync normalises ".." as text before it looks at any link.
      return join(realpathSync.native(current), ...missing.reverse());
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
export async function extractTar(
  archivePath: string,
  root: string,
  options: { signal?: AbortSignal } = {},
): Promise<ExtractResult> {
  await mkdir(root, { recursive: true });
  // Physical from here on: every check below compares real paths, never text.
  const base = await realpath(root);
  const checkedDirs = new Set<string>([base]);
  // Regular files this extraction wrote; the only thing a hard link may copy.
  const written = new Set<string>();
  const directoryModes: [string, number][] = [];
  const result: ExtractResult = { files: 0, bytes: 0 };

  const lstatOrNone = (path: string): Stats | undefined => {
    try {
      return lstatSync(path);
    } catch (error) {
      if (errno(error) === "ENOENT") return undefined;
      throw error;
    }
  };
  const ensureParents = (path: string): void => {
    let current = base;
    for (const part of relative(base, path).split(sep).slice(0, -1)) {
      current = join(current, part);
      if (checkedDirs.has(current)) continue;
      const info = lstatOrNone(current);
      if (!info) mkdirSync(current);
      else if (info.isSymbolicLink())
        throw refusedMember(`Refusing to write through the symbolic link ${current}.`, current);
      else if (!info.isDirectory())
        throw new SandboxError("not_a_directory", `Cannot extract into ${current}: it is not a directory.`, {
          details: { path: current },
        });
      checkedDirs.add(current);
    }
  };
  // Removes whatever is at a leaf (never following it), so the new entry is created fresh.
  const clearLeaf = (path: string): void => {
    const info = lstatOrNone(path);
    if (!info) return;
    if (info.isDirectory())
      throw new SandboxError("is_a_directory", `Refusing to replace the directory ${path} with a file.`, {
        details: { path },
      });
    unlinkSync(path);
    written.delete(path);
  };

  const archive = await open(archivePath, "r");
  const reader = new ArchiveReader(archive.fd);
  let turnStarted = performance.now();
  try {
    for (const entry of readTarEntries(reader)) {
      if (performance.now() - turnStarted > YIELD_EVERY_MS) {
        await yieldNow();
        turnStarted = performance.now();
      }
      if (options.signal?.aborted) throw abortedError(options.signal);
      const parts = memberComponents(entry.name, "member");
      if (parts.length === 0) continue;
      const path = join(base, ...parts);
      ensureParents(path);
      if (entry.type === "directory") {
        const info = lstatOrNone(path);
        if (info && !info.isDirectory()) {
          unlinkSync(path);
          written.delete(path);
        }
        if (!info?.isDirectory()) mkdirSync(path);
        checkedDirs.add(path);
        directoryModes.push([path, entry.mode & 0o777]);
      } else if (entry.type === "file") {
        clearLeaf(path);
        writeMember(reader, entry, path);
        written.add(path);
        result.files++;
        result.bytes += entry.size;
      } else if (entry.type === "symlink") {
        checkLinkTarget(entry.name, entry.linkName, parts.length - 1);
        // The text is fine; the links already in the tree (the host's own, say) must be too.
        let leadsTo: string | undefined;
        try {
          leadsTo = resolvedNow(`${dirname(path)}/${entry.linkName}`);
        } catch {
          leadsTo = undefined;
        }
        if (leadsTo === undefined || !inside(base, leadsTo)) {
          throw refusedMember(
            `Refusing a tar symlink with a symlink target that leaves the target directory: ${JSON.stringify(entry.name)}.`,
            entry.name,
          );
        }
        clearLeaf(path);
        symlinkSync(entry.linkName, path);
        result.files++;
      } else if (entry.type === "hardlink") {
        const source = join(base, ...memberComponents(entry.linkName, "hard link target"));
        if (!written.has(source)) {
          throw refusedMember(
            `Refusing a tar hard link to a file not in the archive: ${JSON.stringify(entry.name)}.`,
            entry.name,
          );
        }
        clearLeaf(path);
        copyFileSync(source, path, constants.COPYFILE_EXCL);
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

function writeMember(reader: ArchiveReader, entry: TarEntry, path: string): void {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const out = openSync(path, flags, entry.mode & 0o777);
  try {
    let copied = 0;
    while (copied < entry.size) {
      const chunk = reader.read(entry.dataOffset + copied, Math.min(COPY_CHUNK, entry.size - copied));
      if (chunk.length === 0) throw corruptArchive("Truncated tar archive.");
      let written = 0;
      while (written < chunk.length) written += writeSync(out, chunk, written, chunk.length - written);
      copied += chunk.length;
    }
    // The mode given to open() is narrowed by the umask; set it exactly, minus setuid/setgid.
    fchmodSync(out, entry.mode & 0o777);
  } finally {
    closeSync(out);
  }
}
