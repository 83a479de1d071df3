import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import {
  mkdir as mkdirLocal,
  rename as renameLocal,
  rm as rmLocal,
  stat as statLocal,
} from "node:fs/promises";
import { dirname as localDirname } from "node:path";
import { invalidArgument, SandboxError } from "../errors.js";
import type {
  DirEntry,
  FileOptions,
  FileStat,
  MkdirOptions,
  ReadFileOptions,
  ReadFileStreamOptions,
  RmOptions,
  WriteFileOptions,
  WriteFileStreamOptions,
} from "../sandbox.js";
import type { SshConnection } from "../ssh/connection.js";
import { throwIfAborted } from "../ssh/file-abort.js";
import {
  checkMkdir,
  checkRead,
  checkRm,
  checkWrite,
  NAMES_DIRECTORY_ITSELF,
  refusedRm,
} from "../ssh/file-checks.js";
import { isDirectoryMode, isLinkMode, kindOf, toFileStat } from "../ssh/sftp-modes.js";
import { tooLarge } from "../ssh/sftp-read.js";
import { checkLocalPath, checkMode, checkRemotePath } from "../validate.js";
import { openReadStream, openWriteStream, type StreamErrors } from "./agent-file-streams.js";
import { AgentErrorReply, AgentLost, type AgentSession } from "./agent-session.js";
import { type AgentTransport, agentLostError } from "./agent-transport.js";
import { type AgentStat, type FieldReader, NO_MODE, Request, readStat } from "./protocol.js";

/** How often an idempotent request is sent again after its agent went away. */
const IDEMPOTENT_ATTEMPTS = 3;
/** INPUT chunk of an upload, read from the local file. */
const UPLOAD_CHUNK_BYTES = 256 * 1024;

/**
 * File operations through the in-VM agent: each one request (one round trip), with the same
 * argument checks, semantics and error codes as {@link SftpFiles}.
 */
export class AgentFiles {
  constructor(
    private readonly agent: AgentTransport,
    private readonly connection: SshConnection,
    private readonly homeDir: () => string,
  ) {}

  async readFileBuffer(path: string, options?: ReadFileOptions): Promise<Uint8Array> {
    const { target, maxBytes } = checkRead(path, options);
    return await this.withSession("readFile", target, true, async (session) => {
      const chunks: Buffer[] = [];
      try {
        await session.call(Request.READ, [{ str: target }, { u64: maxBytes }], {
          onData: (chunk) => chunks.push(Buffer.from(chunk)),
          signal: options?.signal,
        });
      } catch (error) {
        if (error instanceof AgentErrorReply && error.errno === "EFBIG") {
          throw tooLarge(target, maxBytes, /^\d+$/.test(error.message) ? Number(error.message) : undefined);
        }
        if (error instanceof AgentErrorReply && error.errno === "EISDIR") {
          throw new SandboxError("is_a_directory", `readFile: ${target} is a directory.`, {
            details: { path: target },
          });
        }
        throw error;
      }
      return Buffer.concat(chunks);
    });
  }

  async readFile(path: string, options?: ReadFileOptions): Promise<string> {
    return Buffer.from(await this.readFileBuffer(path, options)).toString("utf8");
  }

  async writeFile(path: string, data: string | Uint8Array, options?: WriteFileOptions): Promise<void> {
    const { target, bytes, mode } = checkWrite(path, data, options);
    await this.withSession("writeFile", target, false, async (session) => {
      try {
        await session.call(Request.WRITE, [{ str: target }, { u32: mode ?? NO_MODE }], {
          input: bytes,
          signal: options?.signal,
        });
      } catch (error) {
        if (error instanceof AgentErrorReply && error.errno === "EISDIR") {
          throw new SandboxError("is_a_directory", `writeFile: ${target} is a directory.`, {
            details: { path: target },
          });
        }
        throw parentInTheWay(error, "writeFile", target);
      }
    });
  }

  async stat(path: string, options?: FileOptions): Promise<FileStat> {
    const target = checkRemotePath(path);
    const signal = options?.signal;
    return await this.withSession("stat", target, true, async (session) => {
      // Both questions in one flight: whether it is a link, and what it points to.
      const link = session.call(Request.LSTAT, [{ str: target }], { signal });
      const followed = session.call(Request.STAT, [{ str: target }], { signal });
      followed.catch(() => {});
      const own = readStat(await link);
      if (!isLinkMode(own.mode)) return toFileStat(asStats(own), false);
      try {
        return toFileStat(asStats(readStat(await followed)), true);
      } catch (error) {
        if (error instanceof AgentErrorReply && isNotFound(error.errno))
          return toFileStat(asStats(own), true);
        throw error;
      }
    });
  }

  async readdir(path: string, options?: FileOptions): Promise<DirEntry[]> {
    const target = checkRemotePath(path);
    return await this.withSession("readdir", target, true, async (session) => {
      let reader: FieldReader;
      try {
        reader = await session.call(Request.READDIR, [{ str: target }], { signal: options?.signal });
      } catch (error) {
        if (error instanceof AgentErrorReply && error.errno === "ENOTDIR") {
          throw new SandboxError("not_a_directory", `readdir: ${target} is not a directory.`, {
            details: { path: target },
          });
        }
        throw error;
      }
      const count = reader.u32();
      const entries: DirEntry[] = [];
      for (let i = 0; i < count; i++) {
        const name = reader.str();
        const stat = readStat(reader);
        entries.push({ name, type: kindOf(stat.mode), size: stat.size });
      }
      return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    });
  }

  async exists(path: string, options?: FileOptions): Promise<boolean> {
    const target = checkRemotePath(path);
    return await this.withSession("exists", target, true, async (session) => {
      try {
        await session.call(Request.LSTAT, [{ str: target }], { signal: options?.signal });
        return true;
      } catch (error) {
        if (error instanceof AgentErrorReply && isNotFound(error.errno)) return false;
        throw error;
      }
    });
  }

  async mkdir(path: string, options?: MkdirOptions): Promise<void> {
    const { target, recursive } = checkMkdir(path, options);
    await this.withSession("mkdir", target, false, async (session) => {
      try {
        await session.call(Request.MKDIR, [{ str: target }, { u32: recursive ? 1 : 0 }], {
          signal: options?.signal,
        });
      } catch (error) {
        if (!(error instanceof AgentErrorReply) || (error.errno !== "EEXIST" && error.errno !== "ENOTDIR")) {
          throw error;
        }
        if (!recursive && error.errno === "ENOTDIR") throw error;
        const there = await session.call(Request.LSTAT, [{ str: target }]).then(readStat, () => undefined);
        const message =
          !recursive && there && isDirectoryMode(there.mode)
            ? `mkdir: ${target} already exists.`
            : `mkdir: ${target} exists and is not a directory.`;
        throw new SandboxError("already_exists", message, { details: { path: target } });
      }
    });
  }

  async rm(path: string, options?: RmOptions): Promise<void> {
    const { given, recursive, force } = checkRm(path, options);
    const home = this.homeDir();
    if (given === "/" || given === home) throw refusedRm(given, given);
    const flags = (recursive ? 1 : 0) | (force ? 2 : 0) | (NAMES_DIRECTORY_ITSELF.test(path) ? 4 : 0);
    await this.withSession("rm", given, false, async (session) => {
      try {
        await session.call(Request.RM, [{ str: given }, { str: home }, { u32: flags }], {
          signal: options?.signal,
        });
      } catch (error) {
        if (!(error instanceof AgentErrorReply)) throw error;
        if (error.errno === "EREFUSED") throw refusedRm(error.message === "root" ? "/" : home, given);
        if (isNotFound(error.errno)) {
          throw new SandboxError("not_found", `rm: no such file or directory: ${given}.`, {
            details: { path: given },
          });
        }
        if (error.errno === "EISDIR") {
          throw new SandboxError(
            "is_a_directory",
            `rm: ${given} is a directory; pass { recursive: true } to remove it.`,
            { details: { path: given } },
          );
        }
        throw error;
      }
    });
  }

  async rename(from: string, to: string, options?: FileOptions): Promise<void> {
    const source = checkRemotePath(from, "from");
    const target = checkRemotePath(to, "to");
    await this.withSession("rename", target, false, async (session) => {
      await session.call(Request.RENAME, [{ str: source }, { str: target }], { signal: options?.signal });
    });
  }

  async uploadFile(localPath: string, remotePath: string, options?: FileOptions): Promise<void> {
    const local = checkLocalPath(localPath);
    const target = checkRemotePath(remotePath, "remotePath");
    const info = await statLocal(local).catch((error: NodeJS.ErrnoException) => {
      throw new SandboxError(
        error.code === "ENOENT" ? "not_found" : "io_error",
        `uploadFile: cannot read local file ${local} (${error.code}).`,
        { details: { localPath: local } },
      );
    });
    if (!info.isFile()) throw invalidArgument(`uploadFile: ${local} is not a regular file.`);
    await this.withSession("upload", target, false, async (session) => {
      // Streamed: a file of any size, never whole in memory; the channel's window paces it.
      const stream = createReadStream(local, { highWaterMark: UPLOAD_CHUNK_BYTES });
      try {
        await session.call(Request.WRITE, [{ str: target }, { u32: info.mode & 0o777 }], {
          input: stream,
          signal: options?.signal,
        });
      } catch (error) {
        if (error instanceof AgentErrorReply) throw parentInTheWay(error, "uploadFile", target);
        if (error instanceof AgentLost || SandboxError.isInstance(error)) throw error;
        throw new SandboxError(
          "io_error",
          `uploadFile: reading ${local} failed (${(error as NodeJS.ErrnoException).code ?? "error"}).`,
          { details: { localPath: local } },
        );
      }
    });
  }

  async downloadFile(remotePath: string, localPath: string, options?: FileOptions): Promise<void> {
    const source = checkRemotePath(remotePath, "remotePath");
    const local = checkLocalPath(localPath);
    const signal = options?.signal;
    const info = await this.stat(source, { signal });
    if (info.isDirectory) {
      throw new SandboxError("is_a_directory", `downloadFile: ${source} is a directory.`, {
        details: { path: source },
      });
    }
    await mkdirLocal(localDirname(local), { recursive: true });
    const temp = `${local}.${randomBytes(6).toString("hex")}.part`;
    try {
      await this.withSession("download", source, true, async (session) => {
        const out = createWriteStream(temp);
        const written = new Promise<void>((resolve, reject) => {
          out.once("error", reject);
          out.once("finish", resolve);
        });
        written.catch(() => {});
        try {
          await session.call(Request.READ, [{ str: source }, { u64: Number.MAX_SAFE_INTEGER }], {
            onData: (chunk) => out.write(Buffer.from(chunk)),
            signal,
          });
        } finally {
          out.end();
        }
        await written;
      });
      throwIfAborted(signal);
      await renameLocal(temp, local);
    } catch (error) {
      await rmLocal(temp, { force: true });
      throw error;
    }
  }

  async readFileStream(path: string, options?: ReadFileStreamOptions): Promise<ReadableStream<Uint8Array>> {
    const target = checkRemotePath(path);
    const signal = options?.signal;
    // Idempotent until it is open: a lost agent before the first answer means a fresh start.
    return await this.withSession("readFileStream", target, true, async (session) => {
      try {
        return await openReadStream(
          session,
          target,
          signal,
          this.streamErrors(session, "readFileStream", target),
        );
      } catch (error) {
        if (error instanceof AgentErrorReply && error.errno === "EISDIR") {
          throw new SandboxError("is_a_directory", `readFileStream: ${target} is a directory.`, {
            details: { path: target },
          });
        }
        throw error;
      }
    });
  }

  async writeFileStream(path: string, options?: WriteFileStreamOptions): Promise<WritableStream<Uint8Array>> {
    const target = checkRemotePath(path);
    const mode = checkMode(options?.mode);
    const signal = options?.signal;
    return await this.withSession("writeFileStream", target, false, async (session) => {
      try {
        return await openWriteStream(
          session,
          target,
          mode,
          signal,
          this.streamErrors(session, "writeFileStream", target),
        );
      } catch (error) {
        if (error instanceof AgentErrorReply && error.errno === "EISDIR") {
          throw new SandboxError("is_a_directory", `writeFileStream: ${target} is a directory.`, {
            details: { path: target },
          });
        }
        throw parentInTheWay(error, "writeFileStream", target);
      }
    });
  }

  /** How a stream that is already open reports an `ERR` or a lost agent. */
  private streamErrors(session: AgentSession, operation: string, path: string): StreamErrors {
    return {
      reply: (error) => {
        const mapped = parentInTheWay(error, operation, path);
        return mapped instanceof AgentErrorReply
          ? mapAgentError(mapped, operation, path)
          : (mapped as SandboxError);
      },
      lost: () => agentLostError(this.connection, session, operation),
    };
  }

  /**
   * Runs `work` on the current agent session and maps what goes wrong: `ERR` answers to the
   * SandboxError codes the SFTP path gives for the same case, a lost agent to the connection's
   * error. An idempotent request is sent again (on a fresh agent) after its agent went away.
   */
  private async withSession<T>(
    operation: string,
    path: string,
    idempotent: boolean,
    work: (session: AgentSession) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const session = await this.agent.session();
      try {
        return await work(session);
      } catch (error) {
        if (error instanceof AgentLost) {
          const lost = await agentLostError(this.connection, session, operation);
          if (idempotent && attempt < IDEMPOTENT_ATTEMPTS && lost.code === "connection_failed") continue;
          throw lost;
        }
        if (error instanceof AgentErrorReply) throw mapAgentError(error, operation, path);
        throw error;
      }
    }
  }
}

/**
 * A write whose parent path runs into a file: `already_exists`, as the SFTP path reports it
 * (its `mkdir -p` of the parents finds the file), not `not_found`.
 */
function parentInTheWay(error: unknown, operation: string, target: string): unknown {
  if (!(error instanceof AgentErrorReply) || (error.errno !== "ENOTDIR" && error.errno !== "EEXIST"))
    return error;
  return new SandboxError(
    "already_exists",
    `${operation}: a parent of ${target} exists and is not a directory.`,
    {
      details: { path: target },
    },
  );
}

/** An agent stat record in the shape {@link toFileStat} reads. */
function asStats(stat: AgentStat): { mode: number; size: number; mtime: number } {
  return { mode: stat.mode, size: stat.size, mtime: stat.mtimeSeconds };
}

/** errno names SFTP servers report as "no such file". */
function isNotFound(errno: string): boolean {
  return errno === "ENOENT" || errno === "ENOTDIR" || errno === "ELOOP";
}

/** An `ERR` answer as the SandboxError the SFTP path gives for the same case. */
export function mapAgentError(error: AgentErrorReply, operation: string, path: string): SandboxError {
  const details = { operation, path, errno: error.errno };
  if (isNotFound(error.errno)) {
    return new SandboxError("not_found", `${operation}: no such file or directory: ${path}.`, { details });
  }
  if (error.errno === "EACCES" || error.errno === "EPERM") {
    return new SandboxError("permission_denied", `${operation}: permission denied: ${path}.`, { details });
  }
  if (error.errno === "EISDIR") {
    return new SandboxError("is_a_directory", `${operation}: ${path} is a directory.`, { details });
  }
  return new SandboxError("io_error", `${operation} failed: ${path}: ${error.message} (${error.errno}).`, {
    details,
  });
}
