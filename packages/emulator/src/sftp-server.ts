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
import type { ServerChannel } from "ssh2";
import type { FaultState } from "./faults.js";
import { longname, statusFor, toAttrs } from "./sftp-attrs.js";
import {
  MalformedPacket,
  type NameEntry,
  OPEN_FLAG,
  PACKET,
  PacketFramer,
  PacketReader,
  reply,
  type SftpAttrs,
  STATUS,
} from "./sftp-codec.js";

/** OpenSSH's largest packet (SFTP_MAX_MSG_LENGTH). */
export const MAX_PACKET_BYTES: number = 256 * 1024;
/** OpenSSH's largest read answer (SFTP_MAX_READ_LENGTH): 256 KiB less room for the header. */
const MAX_READ_BYTES = 256 * 1024 - 1024;
/** Entries per READDIR answer, as OpenSSH sends. */
const DIR_BATCH = 100;
const MAX_HANDLES = 1024;
const IDLE_CHECK_MS = 50;
const SLASH = 0x2f;

/** Extensions advertised in VERSION, as OpenSSH's sftp-server lists them. */
const EXTENSIONS: Readonly<Record<string, string>> = {
  "posix-rename@openssh.com": "1",
  "hardlink@openssh.com": "1",
  "fsync@openssh.com": "1",
  "limits@openssh.com": "1",
};

type Handle =
  | { kind: "file"; file: FileHandle; path: Buffer }
  | { kind: "dir"; path: Buffer; names: Buffer[]; next: number };

/** Options for {@link serveSftp}. */
export interface SftpServerOptions {
  /** Relative paths start in this directory (the VM's HOME), as sftp-server starts in the user's home. */
  workspace: string;
  /** Read for `sftpIdleCloseMs`. */
  faults: FaultState;
  /**
   * Called when the session is closed for being idle. sshd abandons a timed-out channel and
   * frees its session at once, without waiting for the client's CLOSE (which ssh2's client
   * never sends for SFTP channels).
   */
  onIdleClose?: () => void;
}

function openFlags(pflags: number): number {
  const readWrite = OPEN_FLAG.READ | OPEN_FLAG.WRITE;
  let flags =
    (pflags & readWrite) === readWrite
      ? constants.O_RDWR
      : pflags & OPEN_FLAG.WRITE
        ? constants.O_WRONLY
        : constants.O_RDONLY;
  if (pflags & OPEN_FLAG.APPEND) flags |= constants.O_APPEND;
  if (pflags & OPEN_FLAG.CREAT) flags |= constants.O_CREAT;
  if (pflags & OPEN_FLAG.TRUNC) flags |= constants.O_TRUNC;
  if (pflags & OPEN_FLAG.EXCL) flags |= constants.O_EXCL;
  return flags;
}

/** A request that fails with a status of its own rather than one mapped from errno. */
class Failure extends Error {
  constructor(readonly code: number) {
    super(`SFTP status ${code}`);
  }
}

const invalidHandle = (): Failure => new Failure(STATUS.FAILURE);

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException)?.code;
}

/** `directory/name`, without doubling the slash of `/`. */
function child(directory: Buffer, name: Buffer): Buffer {
  return directory.length > 0 && directory[directory.length - 1] === SLASH
    ? Buffer.concat([directory, name])
    : Buffer.concat([directory, Buffer.from("/"), name]);
}

/**
 * realpath(3), except that a missing last component is allowed, as in OpenSSH's
 * `sftp_realpath`, so that clients can resolve where a file they are about to create goes.
 */
async function realpathAllowingNewName(path: Buffer): Promise<Buffer> {
  try {
    return await realpath(path, { encoding: "buffer" });
  } catch (error) {
    if (errnoOf(error) !== "ENOENT") throw error;
    let end = path.length;
    while (end > 1 && path[end - 1] === SLASH) end--;
    const cut = path.lastIndexOf(SLASH, end - 1);
    const last = path.subarray(cut + 1, end);
    if (last.length === 0 || last.equals(Buffer.from(".")) || last.equals(Buffer.from(".."))) throw error;
    const parent = cut <= 0 ? Buffer.from(cut === 0 ? "/" : ".") : path.subarray(0, cut);
    return child(await realpath(parent, { encoding: "buffer" }), last);
  }
}

/**
 * An SFTP v3 server over the host's file system, in the manner of OpenSSH's sftp-server: path
 * bytes go to the kernel as they came (relative ones start in the workspace, `..` is resolved
 * by the kernel, through symbolic links), names come back byte for byte; requests are answered
 * one at a time, in order; errno values map to SFTP statuses as OpenSSH maps them.
 */
class SftpServer {
  private readonly handles = new Map<number, Handle>();
  private readonly workspace: Buffer;
  private readonly framer = new PacketFramer(MAX_PACKET_BYTES);
  private nextHandle = 1;
  private queue: Promise<void> = Promise.resolve();
  private lastActivity = Date.now();
  private pending = 0;
  private initialised = false;
  private closed = false;
  private readonly idleTimer: NodeJS.Timeout;

  constructor(
    private readonly channel: ServerChannel,
    private readonly options: SftpServerOptions,
  ) {
    this.workspace = Buffer.from(options.workspace);
    channel.on("error", () => {});
    channel.on("data", (data: Buffer) => this.receive(data));
    this.idleTimer = setInterval(() => this.closeIfIdle(), IDLE_CHECK_MS);
    this.idleTimer.unref();
    // The client's EOF ends the session: OpenSSH's sftp-server answers what it has read, exits
    // (status 0) and sshd closes the channel, which `sftp` waits for and whose status `scp` checks.
    channel.once("end", () => {
      void this.queue.then(() => {
        if (!this.closed) channel.exit(0);
        channel.end();
        this.cleanUp();
      });
    });
    channel.once("close", () => this.cleanUp());
  }

  private receive(data: Buffer): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    const packets = this.framer.push(data);
    if (packets === "lost") {
      // Framing is lost for good; OpenSSH's sftp-server exits here too.
      this.close();
      return;
    }
    for (const bytes of packets) this.dispatch(bytes);
  }

  private dispatch(bytes: Buffer): void {
    const type = bytes[0] as number;
    if (!this.initialised) {
      // Before INIT only INIT is valid; sftp-server gives up on anything else.
      if (type !== PACKET.INIT || bytes.length < 5) {
        this.close();
        return;
      }
      this.initialised = true;
      this.serve(undefined, () => this.send(reply.version(EXTENSIONS)));
      return;
    }
    if (bytes.length < 5) return; // no request id to answer
    const id = bytes.readUInt32BE(1);
    const request = new PacketReader(bytes.subarray(5));
    this.serve(id, () => this.handle(type, id, request));
  }

  private closeIfIdle(): void {
    const limit = this.options.faults.sftpIdleCloseMs;
    if (limit === undefined || this.pending > 0 || Date.now() - this.lastActivity < limit) return;
    // As sshd's ChannelTimeout does: the channel just closes.
    this.close();
    this.options.onIdleClose?.();
  }

  private close(): void {
    this.channel.end();
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

  /** Sends a reply, waiting while the channel's buffer is full (requests are served in order anyway). */
  private send(bytes: Buffer): Promise<void> {
    if (this.closed || !this.channel.writable) return Promise.resolve();
    if (this.channel.write(bytes)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.channel.off("drain", done);
        this.channel.off("close", done);
        resolve();
      };
      this.channel.on("drain", done);
      this.channel.on("close", done);
    });
  }

  /** Queues a request's work after the ones before it, answering a failure with a status. */
  private serve(id: number | undefined, work: () => Promise<void>): void {
    this.pending++;
    this.queue = this.queue
      .then(work)
      .catch((error: unknown) => {
        if (id === undefined) return;
        const code =
          error instanceof Failure
            ? error.code
            : error instanceof MalformedPacket
              ? STATUS.BAD_MESSAGE
              : statusFor(error);
        return this.send(reply.status(id, code));
      })
      .finally(() => {
        this.pending--;
        this.lastActivity = Date.now();
      });
  }

  /** A path from the wire as the kernel gets it: relative ones in the workspace, nothing normalised. */
  private path(request: PacketReader): Buffer {
    const given = request.string();
    if (given.includes(0)) throw new MalformedPacket("NUL in a path");
    if (given.length === 0 || given[0] === SLASH) return given;
    return child(this.workspace, given);
  }

  private addHandle(handle: Handle): Buffer {
    if (this.handles.size >= MAX_HANDLES) throw new Failure(STATUS.FAILURE);
    const id = this.nextHandle++;
    this.handles.set(id, handle);
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(id);
    return bytes;
  }

  private lookUp(request: PacketReader): { key: number; handle: Handle } {
    const bytes = request.string();
    const key = bytes.length === 4 ? bytes.readUInt32BE(0) : -1;
    const handle = this.handles.get(key);
    if (!handle) throw invalidHandle();
    return { key, handle };
  }

  private file(request: PacketReader): FileHandle {
    const { handle } = this.lookUp(request);
    if (handle.kind !== "file") throw invalidHandle();
    return handle.file;
  }

  private ok(id: number): Promise<void> {
    return this.send(reply.status(id, STATUS.OK));
  }

  private async handle(type: number, id: number, request: PacketReader): Promise<void> {
    switch (type) {
      case PACKET.OPEN: {
        const path = this.path(request);
        const pflags = request.u32();
        const attrs = request.attrs();
        const file = await open(
          path,
          openFlags(pflags),
          attrs.mode !== undefined ? attrs.mode & 0o7777 : 0o666,
        );
        if (this.closed) {
          // The session ended while the file was opening; nobody can close it later.
          await file.close();
          return;
        }
        let handle: Buffer;
        try {
          handle = this.addHandle({ kind: "file", file, path });
        } catch (error) {
          await file.close();
          throw error;
        }
        return this.send(reply.handle(id, handle));
      }
      case PACKET.READ: {
        const file = this.file(request);
        const offset = request.u64();
        const length = request.u32();
        const buffer = Buffer.allocUnsafe(Math.min(length, MAX_READ_BYTES));
        const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) return this.send(reply.status(id, STATUS.EOF));
        return this.send(reply.data(id, buffer.subarray(0, bytesRead)));
      }
      case PACKET.WRITE: {
        const file = this.file(request);
        const offset = request.u64();
        const data = request.string();
        for (let written = 0; written < data.length; ) {
          const { bytesWritten } = await file.write(data, written, data.length - written, offset + written);
          written += bytesWritten;
        }
        return this.ok(id);
      }
      case PACKET.CLOSE: {
        const { key, handle } = this.lookUp(request);
        this.handles.delete(key);
        if (handle.kind === "file") await handle.file.close();
        return this.ok(id);
      }
      case PACKET.FSTAT: {
        const { handle } = this.lookUp(request);
        const stats = handle.kind === "file" ? await handle.file.stat() : await stat(handle.path);
        return this.send(reply.attrs(id, toAttrs(stats)));
      }
      case PACKET.STAT:
        return this.send(reply.attrs(id, toAttrs(await stat(this.path(request)))));
      case PACKET.LSTAT:
        return this.send(reply.attrs(id, toAttrs(await lstat(this.path(request)))));
      case PACKET.SETSTAT: {
        const path = this.path(request);
        await this.setAttrs(path, undefined, request.attrs());
        return this.ok(id);
      }
      case PACKET.FSETSTAT: {
        const { handle } = this.lookUp(request);
        await this.setAttrs(handle.path, handle.kind === "file" ? handle.file : undefined, request.attrs());
        return this.ok(id);
      }
      case PACKET.OPENDIR: {
        const path = this.path(request);
        const names = await readdir(path, { encoding: "buffer" });
        const dots = [Buffer.from("."), Buffer.from("..")];
        return this.send(
          reply.handle(id, this.addHandle({ kind: "dir", path, names: [...dots, ...names], next: 0 })),
        );
      }
      case PACKET.READDIR:
        return this.readDirectory(id, request);
      case PACKET.REMOVE:
        await unlink(this.path(request));
        return this.ok(id);
      case PACKET.MKDIR: {
        const path = this.path(request);
        const attrs = request.attrs();
        await mkdir(path, attrs.mode !== undefined ? attrs.mode & 0o7777 : 0o777);
        return this.ok(id);
      }
      case PACKET.RMDIR:
        await rmdir(this.path(request));
        return this.ok(id);
      case PACKET.REALPATH: {
        let path = this.path(request);
        if (path.length === 0) path = this.workspace;
        const real = await realpathAllowingNewName(path);
        return this.send(reply.name(id, [{ filename: real, longname: real, attrs: {} }]));
      }
      case PACKET.RENAME: {
        const from = this.path(request);
        await this.renameWithoutReplacing(from, this.path(request));
        return this.ok(id);
      }
      case PACKET.READLINK: {
        const target = await readlink(this.path(request), { encoding: "buffer" });
        return this.send(reply.name(id, [{ filename: target, longname: target, attrs: {} }]));
      }
      case PACKET.SYMLINK: {
        // OpenSSH's order, which every client that talks to OpenSSH uses (paramiko, asyncssh
        // and ssh2 when the server names itself OpenSSH): the target first, then the new link.
        // The RFC draft has them the other way round; real VMs follow OpenSSH.
        const target = request.string();
        if (target.includes(0)) throw new MalformedPacket("NUL in a path");
        await symlink(target, this.path(request));
        return this.ok(id);
      }
      case PACKET.EXTENDED:
        return this.extended(id, request);
      default:
        throw new Failure(STATUS.OP_UNSUPPORTED);
    }
  }

  private async readDirectory(id: number, request: PacketReader): Promise<void> {
    const { handle } = this.lookUp(request);
    if (handle.kind !== "dir") throw invalidHandle();
    while (handle.next < handle.names.length) {
      const batch = handle.names.slice(handle.next, handle.next + DIR_BATCH);
      handle.next += batch.length;
      const entries = await Promise.all(
        batch.map(async (name): Promise<NameEntry | undefined> => {
          try {
            const stats = await lstat(child(handle.path, name));
            return { filename: name, longname: longname(name, stats), attrs: toAttrs(stats) };
          } catch {
            return undefined; // removed since the listing, as sftp-server skips what lstat fails on
          }
        }),
      );
      const present = entries.filter((entry) => entry !== undefined);
      if (present.length > 0) return this.send(reply.name(id, present));
    }
    return this.send(reply.status(id, STATUS.EOF));
  }

  /** SETSTAT/FSETSTAT, in OpenSSH's order: size, permissions, times, owner. */
  private async setAttrs(path: Buffer, file: FileHandle | undefined, attrs: SftpAttrs): Promise<void> {
    if (attrs.size !== undefined) await (file ? file.truncate(attrs.size) : truncate(path, attrs.size));
    if (attrs.mode !== undefined) {
      const mode = attrs.mode & 0o7777;
      await (file ? file.chmod(mode) : chmod(path, mode));
    }
    if (attrs.atime !== undefined && attrs.mtime !== undefined) {
      await (file ? file.utimes(attrs.atime, attrs.mtime) : utimes(path, attrs.atime, attrs.mtime));
    }
    if (attrs.uid !== undefined && attrs.gid !== undefined) {
      await (file ? file.chown(attrs.uid, attrs.gid) : chown(path, attrs.uid, attrs.gid));
    }
  }

  /**
   * Plain SFTP rename never replaces: OpenSSH links a regular file to its new name and then
   * unlinks the old one (so an existing target makes it fail), and refuses other kinds of
   * file when the target exists. Clients that want replacing use posix-rename.
   */
  private async renameWithoutReplacing(from: Buffer, to: Buffer): Promise<void> {
    const source = await lstat(from);
    if (source.isFile()) {
      try {
        await link(from, to);
      } catch (error) {
        const code = errnoOf(error);
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

  private async refuseExisting(path: Buffer): Promise<void> {
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (exists) throw new Failure(STATUS.FAILURE);
  }

  private async extended(id: number, request: PacketReader): Promise<void> {
    const name = request.string().toString("latin1");
    switch (name) {
      case "posix-rename@openssh.com":
      case "hardlink@openssh.com": {
        const from = this.path(request);
        const to = this.path(request);
        await (name === "hardlink@openssh.com" ? link(from, to) : rename(from, to));
        return this.ok(id);
      }
      case "fsync@openssh.com":
        await this.file(request).sync();
        return this.ok(id);
      case "limits@openssh.com": {
        const limits = Buffer.alloc(32);
        limits.writeBigUInt64BE(BigInt(MAX_PACKET_BYTES), 0);
        limits.writeBigUInt64BE(BigInt(MAX_READ_BYTES), 8);
        limits.writeBigUInt64BE(BigInt(MAX_READ_BYTES), 16); // max write
        limits.writeBigUInt64BE(BigInt(MAX_HANDLES), 24);
        return this.send(reply.extended(id, limits));
      }
      default:
        throw new Failure(STATUS.OP_UNSUPPORTED);
    }
  }
}

/** Serves SFTP on an accepted `sftp` subsystem channel until it closes. */
export function serveSftp(channel: ServerChannel, options: SftpServerOptions): void {
  new SftpServer(channel, options);
}
