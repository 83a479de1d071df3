import { constants } from "node:fs";
import {
  chmod,
  chown,
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  realpath,
  rename,
  rmdir,
  stat,
  symlink,
  truncate,
  unlink,
  utimes,
} from "node:fs/promises";
import { resolve } from "node:path";
import ssh2, { type Attributes, type SFTPWrapper } from "ssh2";
import type { FaultState } from "./faults.js";
import { longname, statusFor, toAttrs } from "./sftp-attrs.js";
import { attachSftpWire, readStrings, type SftpWire } from "./sftp-wire.js";

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp;

/** OpenSSH's largest read answer (SFTP_MAX_READ_LENGTH): 256 KiB less room for the header. */
const MAX_READ_BYTES = 256 * 1024 - 1024;
/** Entries per READDIR answer, as OpenSSH sends. */
const DIR_BATCH = 100;
const MAX_HANDLES = 1024;
const IDLE_CHECK_MS = 50;

/** Extensions advertised in VERSION, as OpenSSH's sftp-server lists them. */
const EXTENSIONS: Readonly<Record<string, string>> = {
  "posix-rename@openssh.com": "1",
  "hardlink@openssh.com": "1",
  "fsync@openssh.com": "1",
  "limits@openssh.com": "1",
};

type Handle =
  | { kind: "file"; file: FileHandle; path: string }
  | { kind: "dir"; path: string; names: string[]; next: number };

/** Options for {@link serveSftp}. */
export interface SftpServerOptions {
  /** Relative paths resolve against this directory (the VM's HOME). */
  workspace: string;
  /** Read for `sftpIdleCloseMs`. */
  faults: FaultState;
}

function openFlags(pflags: number): number {
  const readWrite = OPEN_MODE.READ | OPEN_MODE.WRITE;
  let flags =
    (pflags & readWrite) === readWrite
      ? constants.O_RDWR
      : pflags & OPEN_MODE.WRITE
        ? constants.O_WRONLY
        : constants.O_RDONLY;
  if (pflags & OPEN_MODE.APPEND) flags |= constants.O_APPEND;
  if (pflags & OPEN_MODE.CREAT) flags |= constants.O_CREAT;
  if (pflags & OPEN_MODE.TRUNC) flags |= constants.O_TRUNC;
  if (pflags & OPEN_MODE.EXCL) flags |= constants.O_EXCL;
  return flags;
}

class Failure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const invalidHandle = (): Failure => new Failure(STATUS_CODE.FAILURE, "Invalid handle");

/**
 * An SFTP v3 server over the host's file system, in the manner of OpenSSH's sftp-server:
 * paths mean what they mean on the host, relative ones start at the workspace; requests are
 * answered one at a time, in order; errno values map to SFTP statuses as OpenSSH maps them.
 */
class SftpServer {
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  private queue: Promise<void> = Promise.resolve();
  private lastActivity = Date.now();
  private pending = 0;
  private closed = false;
  private readonly idleTimer: NodeJS.Timeout;
  private readonly wire: SftpWire | undefined;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly options: SftpServerOptions,
  ) {
    this.wire = attachSftpWire(sftp, {
      extensions: EXTENSIONS,
      onRequest: () => {
        this.lastActivity = Date.now();
      },
    });
    sftp.on("error", () => {});
    this.idleTimer = setInterval(() => this.closeIfIdle(), IDLE_CHECK_MS);
    this.idleTimer.unref();
    // The client's EOF ends the session: OpenSSH's sftp-server answers what it has read, exits
    // (status 0) and sshd closes the channel, which `sftp` waits for and whose status `scp` checks.
    sftp.once("end", () => {
      void this.queue.then(() => {
        this.wire?.exitStatus(0);
        sftp.end();
        this.cleanUp();
      });
    });
    sftp.once("close", () => this.cleanUp());
    this.listen();
  }

  private closeIfIdle(): void {
    const limit = this.options.faults.sftpIdleCloseMs;
    if (limit === undefined || this.pending > 0 || Date.now() - this.lastActivity < limit) return;
    // As sshd's ChannelTimeout does: the channel just closes.
    this.sftp.end();
    this.cleanUp();
  }

  private cleanUp(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.idleTimer);
    for (const handle of this.handles.values()) {
      if (handle.kind === "file") handle.file.close().catch(() => {});
    }
    this.handles.clear();
  }

  private path(given: string): string {
    return resolve(this.options.workspace, given);
  }

  private addHandle(handle: Handle): Buffer {
    if (this.handles.size >= MAX_HANDLES) throw new Failure(STATUS_CODE.FAILURE, "Too many open handles");
    const id = this.nextHandle++;
    this.handles.set(id, handle);
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(id);
    return bytes;
  }

  private handle(bytes: Buffer): Handle | undefined {
    return bytes.length === 4 ? this.handles.get(bytes.readUInt32BE(0)) : undefined;
  }

  private file(bytes: Buffer): FileHandle {
    const handle = this.handle(bytes);
    if (handle?.kind !== "file") throw invalidHandle();
    return handle.file;
  }

  /** Runs requests one after another, answering failures with a status. */
  private serve(id: number, work: () => Promise<void>): void {
    this.pending++;
    this.queue = this.queue
      .then(work)
      .catch((error: unknown) => {
        const status =
          error instanceof Failure ? { code: error.code, message: error.message } : statusFor(error);
        this.sftp.status(id, status.code, status.message);
      })
      .finally(() => {
        this.pending--;
        this.lastActivity = Date.now();
      });
  }

  private ok(id: number): void {
    this.sftp.status(id, STATUS_CODE.OK);
  }

  private listen(): void {
    const { sftp } = this;
    sftp.on("OPEN", (id, filename, pflags, attrs) =>
      this.serve(id, async () => {
        const mode = typeof attrs?.mode === "number" ? attrs.mode & 0o7777 : 0o666;
        const path = this.path(filename);
        const file = await open(path, openFlags(pflags), mode);
        if (this.closed) {
          // The session ended while the file was opening; nobody can close it later.
          await file.close();
          return;
        }
        try {
          sftp.handle(id, this.addHandle({ kind: "file", file, path }));
        } catch (error) {
          await file.close();
          throw error;
        }
      }),
    );
    sftp.on("READ", (id, handle, offset, length) =>
      this.serve(id, async () => {
        const file = this.file(handle);
        const buffer = Buffer.allocUnsafe(Math.min(length, MAX_READ_BYTES));
        const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) sftp.status(id, STATUS_CODE.EOF);
        else sftp.data(id, buffer.subarray(0, bytesRead));
      }),
    );
    sftp.on("WRITE", (id, handle, offset, data) =>
      this.serve(id, async () => {
        const file = this.file(handle);
        for (let written = 0; written < data.length; ) {
          const { bytesWritten } = await file.write(data, written, data.length - written, offset + written);
          written += bytesWritten;
        }
        this.ok(id);
      }),
    );
    sftp.on("CLOSE", (id, bytes) =>
      this.serve(id, async () => {
        const handle = this.handle(bytes);
        if (!handle) throw invalidHandle();
        this.handles.delete(bytes.readUInt32BE(0));
        if (handle.kind === "file") await handle.file.close();
        this.ok(id);
      }),
    );
    sftp.on("FSTAT", (id, bytes) =>
      this.serve(id, async () => {
        const handle = this.handle(bytes);
        if (!handle) throw invalidHandle();
        sftp.attrs(id, toAttrs(handle.kind === "file" ? await handle.file.stat() : await stat(handle.path)));
      }),
    );
    sftp.on("STAT", (id, path) =>
      this.serve(id, async () => sftp.attrs(id, toAttrs(await stat(this.path(path))))),
    );
    sftp.on("LSTAT", (id, path) =>
      this.serve(id, async () => sftp.attrs(id, toAttrs(await lstat(this.path(path))))),
    );
    sftp.on("SETSTAT", (id, path, attrs) =>
      this.serve(id, async () => {
        await this.setAttrs(this.path(path), undefined, attrs);
        this.ok(id);
      }),
    );
    sftp.on("FSETSTAT", (id, bytes, attrs) =>
      this.serve(id, async () => {
        const handle = this.handle(bytes);
        if (!handle) throw invalidHandle();
        await this.setAttrs(handle.path, handle.kind === "file" ? handle.file : undefined, attrs);
        this.ok(id);
      }),
    );
    sftp.on("OPENDIR", (id, path) =>
      this.serve(id, async () => {
        const resolved = this.path(path);
        const names = await readdir(resolved);
        sftp.handle(
          id,
          this.addHandle({ kind: "dir", path: resolved, names: [".", "..", ...names], next: 0 }),
        );
      }),
    );
    sftp.on("READDIR", (id, bytes) => this.serve(id, () => this.readDirectory(id, bytes)));
    sftp.on("REMOVE", (id, path) =>
      this.serve(id, async () => {
        await unlink(this.path(path));
        this.ok(id);
      }),
    );
    sftp.on("MKDIR", (id, path, attrs) =>
      this.serve(id, async () => {
        await mkdir(this.path(path), typeof attrs?.mode === "number" ? attrs.mode & 0o7777 : 0o777);
        this.ok(id);
      }),
    );
    sftp.on("RMDIR", (id, path) =>
      this.serve(id, async () => {
        await rmdir(this.path(path));
        this.ok(id);
      }),
    );
    sftp.on("REALPATH", (id, path) =>
      this.serve(id, async () => {
        const wanted = this.path(path === "" ? "." : path);
        // A path that does not exist (yet) comes back normalised, so clients can `cd` and `put` into it.
        const real = await realpath(wanted).catch((error: NodeJS.ErrnoException) => {
          if (error.code === "ENOENT") return wanted;
          throw error;
        });
        sftp.name(id, [{ filename: real, longname: real, attrs: {} as Attributes }]);
      }),
    );
    sftp.on("RENAME", (id, from, to) =>
      this.serve(id, async () => {
        await this.renameWithoutReplacing(this.path(from), this.path(to));
        this.ok(id);
      }),
    );
    sftp.on("READLINK", (id, path) =>
      this.serve(id, async () => {
        const target = await readlink(this.path(path));
        sftp.name(id, [{ filename: target, longname: target, attrs: {} as Attributes }]);
      }),
    );
    // ssh2 swaps the two paths for OpenSSH clients (which send them in reverse); either way the
    // listener gets the link first, then its target.
    sftp.on("SYMLINK", (id, linkPath, targetPath) =>
      this.serve(id, async () => {
        await symlink(targetPath, this.path(linkPath));
        this.ok(id);
      }),
    );
    sftp.on("EXTENDED", (id, name, data) => this.serve(id, () => this.extended(id, name, data)));
  }

  private async readDirectory(id: number, bytes: Buffer): Promise<void> {
    const handle = this.handle(bytes);
    if (handle?.kind !== "dir") throw invalidHandle();
    while (handle.next < handle.names.length) {
      const batch = handle.names.slice(handle.next, handle.next + DIR_BATCH);
      handle.next += batch.length;
      const entries = await Promise.all(
        batch.map(async (name) => {
          try {
            const stats = await lstat(resolve(handle.path, name));
            return { filename: name, longname: longname(name, stats), attrs: toAttrs(stats) };
          } catch {
            return undefined; // removed since the listing
          }
        }),
      );
      const present = entries.filter((entry) => entry !== undefined);
      if (present.length > 0) {
        this.sftp.name(id, present);
        return;
      }
    }
    this.sftp.status(id, STATUS_CODE.EOF);
  }

  /** SETSTAT/FSETSTAT, in OpenSSH's order: size, permissions, times, owner. */
  private async setAttrs(
    path: string,
    file: FileHandle | undefined,
    attrs: Partial<Attributes>,
  ): Promise<void> {
    if (typeof attrs.size === "number") await (file ? file.truncate(attrs.size) : truncate(path, attrs.size));
    if (typeof attrs.mode === "number") {
      const mode = attrs.mode & 0o7777;
      await (file ? file.chmod(mode) : chmod(path, mode));
    }
    if (typeof attrs.atime === "number" && typeof attrs.mtime === "number") {
      await (file ? file.utimes(attrs.atime, attrs.mtime) : utimes(path, attrs.atime, attrs.mtime));
    }
    if (typeof attrs.uid === "number" && typeof attrs.gid === "number") {
      await (file ? file.chown(attrs.uid, attrs.gid) : chown(path, attrs.uid, attrs.gid));
    }
  }

  /**
   * Plain SFTP rename never replaces: OpenSSH links a regular file to its new name and then
   * unlinks the old one (so an existing target makes it fail), and refuses other kinds of
   * file when the target exists. Clients that want replacing use posix-rename.
   */
  private async renameWithoutReplacing(from: string, to: string): Promise<void> {
    const source = await lstat(from);
    if (source.isFile()) {
      try {
        await link(from, to);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // Some file systems cannot link; fall through to a checked rename.
        if (code !== "EPERM" && code !== "EXDEV" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
        await this.refuseExisting(to);
        await rename(from, to);
        return;
      }
      await unlink(from);
      return;
    }
    await this.refuseExisting(to);
    await rename(from, to);
  }

  private async refuseExisting(path: string): Promise<void> {
    const exists = await lstat(path).then(
      () => true,
      () => false,
    );
    if (exists) throw new Failure(STATUS_CODE.FAILURE, "Failure");
  }

  private async extended(id: number, name: string, data: Buffer | undefined): Promise<void> {
    const bad = (): Failure => new Failure(STATUS_CODE.BAD_MESSAGE, "Bad message");
    switch (name) {
      case "posix-rename@openssh.com":
      case "hardlink@openssh.com": {
        const [from, to] = readStrings(data, 2) ?? [];
        if (!from || !to) throw bad();
        const operation = name === "hardlink@openssh.com" ? link : rename;
        await operation(this.path(from.toString("utf8")), this.path(to.toString("utf8")));
        this.ok(id);
        return;
      }
      case "fsync@openssh.com": {
        const [bytes] = readStrings(data, 1) ?? [];
        if (!bytes) throw bad();
        await this.file(bytes).sync();
        this.ok(id);
        return;
      }
      case "limits@openssh.com": {
        const limits = Buffer.alloc(32);
        limits.writeBigUInt64BE(BigInt(256 * 1024), 0); // max packet
        limits.writeBigUInt64BE(BigInt(MAX_READ_BYTES), 8); // max read
        limits.writeBigUInt64BE(BigInt(MAX_READ_BYTES), 16); // max write
        limits.writeBigUInt64BE(BigInt(MAX_HANDLES), 24); // max open handles
        if (!this.wire?.extendedReply(id, limits)) {
          throw new Failure(STATUS_CODE.OP_UNSUPPORTED, "Operation unsupported");
        }
        return;
      }
      default:
        throw new Failure(STATUS_CODE.OP_UNSUPPORTED, "Operation unsupported");
    }
  }
}

/** Serves SFTP on an accepted `sftp` subsystem channel until it closes. */
export function serveSftp(sftp: SFTPWrapper, options: SftpServerOptions): void {
  new SftpServer(sftp, options);
}
