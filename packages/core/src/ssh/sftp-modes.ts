import type { Stats } from "ssh2";
import type { DirEntry, FileStat } from "../sandbox.js";

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** Whether SFTP attributes describe a directory. */
export function isDirectoryMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFDIR;
}

/** Whether SFTP attributes describe a regular file. */
export function isRegularMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFREG;
}

/** Whether SFTP attributes describe a symbolic link. */
export function isLinkMode(mode: number): boolean {
  return (mode & S_IFMT) === S_IFLNK;
}

/** The {@link DirEntry} type of a mode. */
export function kindOf(mode: number): DirEntry["type"] {
  if (isRegularMode(mode)) return "file";
  if (isDirectoryMode(mode)) return "directory";
  if (isLinkMode(mode)) return "symlink";
  return "other";
}

/** SFTP attributes as a {@link FileStat}. */
export function toFileStat(stats: Pick<Stats, "mode" | "size" | "mtime">, isSymbolicLink: boolean): FileStat {
  return {
    isFile: isRegularMode(stats.mode),
    isDirectory: isDirectoryMode(stats.mode),
    isSymbolicLink,
    size: stats.size,
    mtime: new Date(stats.mtime * 1000),
    mode: stats.mode & 0o7777,
  };
}
