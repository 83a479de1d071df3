import type { Stats } from "node:fs";
import { userInfo } from "node:os";
import { type SftpAttrs, STATUS } from "./sftp-codec.js";

/** SFTP attributes of a file: type and permission bits, owner, size and times (whole seconds). */
export function toAttrs(stats: Stats): SftpAttrs {
  return {
    mode: stats.mode,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    atime: Math.floor(stats.atimeMs / 1000),
    mtime: Math.floor(stats.mtimeMs / 1000),
  };
}

const TYPE_CHARS: ReadonlyArray<[number, string]> = [
  [0o140000, "s"],
  [0o120000, "l"],
  [0o100000, "-"],
  [0o060000, "b"],
  [0o040000, "d"],
  [0o020000, "c"],
  [0o010000, "p"],
];

function modeString(mode: number): string {
  const type = TYPE_CHARS.find(([bits]) => (mode & 0o170000) === bits)?.[1] ?? "?";
  const triplet = (shift: number, special: number, specialChar: string): string => {
    const bits = (mode >> shift) & 7;
    const execute = bits & 1;
    const x = mode & special ? (execute ? specialChar : specialChar.toUpperCase()) : execute ? "x" : "-";
    return `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${x}`;
  };
  return `${type}${triplet(6, 0o4000, "s")}${triplet(3, 0o2000, "s")}${triplet(0, 0o1000, "t")}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000;
let ownUser: { uid: number; name: string } | undefined;

function ownerName(uid: number): string {
  try {
    ownUser ??= { uid: userInfo().uid, name: userInfo().username };
  } catch {
    ownUser = { uid: -1, name: "" };
  }
  return uid === ownUser.uid ? ownUser.name : String(uid);
}

/**
 * The `ls -l` style line OpenSSH's sftp-server sends with each directory entry; the name is
 * copied byte for byte.
 * @param now - For choosing between time and year, as `ls` does. @default Date.now()
 */
export function longname(name: Buffer, stats: Stats, now: number = Date.now()): Buffer {
  const date = stats.mtime;
  const day = String(date.getDate()).padStart(2, " ");
  const recent = Math.abs(now - stats.mtimeMs) < SIX_MONTHS_MS;
  const when = recent
    ? `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`
    : ` ${date.getFullYear()}`;
  const prefix = [
    modeString(stats.mode),
    String(stats.nlink).padStart(3, " "),
    ownerName(stats.uid).padEnd(8, " "),
    String(stats.gid).padEnd(8, " "),
    String(stats.size).padStart(8, " "),
    `${MONTHS[date.getMonth()]} ${day} ${when}`,
  ].join(" ");
  return Buffer.concat([Buffer.from(`${prefix} `), name]);
}

/** The SFTP status for a failed file-system call, mapped from errno as OpenSSH's sftp-server does. */
export function statusFor(error: unknown): number {
  switch ((error as NodeJS.ErrnoException)?.code) {
    case "ENOENT":
    case "ENOTDIR":
    case "EBADF":
    case "ELOOP":
      return STATUS.NO_SUCH_FILE;
    case "EPERM":
    case "EACCES":
    case "EFAULT":
      return STATUS.PERMISSION_DENIED;
    case "ENAMETOOLONG":
    case "EINVAL":
      return STATUS.BAD_MESSAGE;
    case "ENOSYS":
      return STATUS.OP_UNSUPPORTED;
    default:
      return STATUS.FAILURE;
  }
}
