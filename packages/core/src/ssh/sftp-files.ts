import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  mkdir as mkdirLocal,
  rename as renameLocal,
  rm as rmLocal,
  stat as statLocal,
} from "node:fs/promises";
import { dirname as localDirname, posix } from "node:path";
import type { Stats } from "ssh2";
import { invalidArgument, isSandboxError, SandboxError } from "../errors.js";
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
import { checkLocalPath, checkMode, checkRemotePath } from "../validate.js";
import { onAbort, onStreamAbort, throwIfAborted } from "./file-abort.js";
import {
  checkMkdir,
  checkRead,
  checkRm,
  checkWrite,
  NAMES_DIRECTORY_ITSELF,
  refusedRm,
} from "./file-checks.js";
import { OwedUnlinks } from "./owed-unlinks.js";
import { isDirectoryMode, isLinkMode, isRegularMode, kindOf, toFileStat } from "./sftp-modes.js";
import { CHUNK_BYTES, PIPELINE_DEPTH, readWholeFile } from "./sftp-read.js";
import type { SftpSession } from "./sftp-session.js";
import { openSftpReadStream, openTempWriter, type TempWriter } from "./sftp-streams.js";
import { forEachLimited, tempNameFor, writeTempFile } from "./sftp-write.js";

/** Requests kept in flight by fastGet/fastPut. */
const TRANSFER_CONCURRENCY = 16;

/**
 * File operations over SFTP. Nothing here builds shell strings: paths travel as SFTP
 * arguments, so no name can be misread as a command. Paths go to the server as given (`..`
 * included), so they mean what they mean on the machine, through its symbolic links.
 */
export class SftpFiles {
  private readonly owedUnlinks: OwedUnlinks;
  private realHome: string | undefined;

  constructor(
    private readonly session: SftpSession,
    private readonly homeDir: () => string,
  ) {
    this.owedUnlinks = new OwedUnlinks(session);
  }

  /** Temp files whose removal is still owed (a write failed with the connection); for tests. */
  get owedCleanups(): number {
    return this.owedUnlinks.size;
  }

  async readFileBuffer(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
    const { target, maxBytes } = checkRead(path, options);
    try {
      // Reads are idempotent: when the session closes midway the whole read starts again from
      // the open on a fresh session (its handles mean nothing on any other).
      const signal = options.signal;
      return await this.session.operation(
        "readFile",
        (scope) => readWholeFile(scope, target, maxBytes, signal),
        {
          idempotent: true,
          path: target,
        },
      );
    } catch (error) {
      // Some servers refuse to open a directory at all (OpenSSH opens it and fstat tells).
      if (isSandboxError(error, "io_error") || isSandboxError(error, "permission_denied")) {
        const entry = await this.statOrUndefined(target).catch(() => undefined);
        if (entry && isDirectoryMode(entry.mode)) {
          throw new SandboxError("is_a_directory", `readFile: ${target} is a directory.`, {
            details: { path: target },
          });
        }
      }
      throw error;
    }
  }

  async readFile(path: string, options?: ReadFileOptions): Promise<string> {
    return Buffer.from(await this.readFileBuffer(path, options)).toString("utf8");
  }

  async writeFile(path: string, data: string | Uint8Array, options: WriteFileOptions = {}): Promise<void> {
    const checked = checkWrite(path, data, options);
    const { target, bytes } = checked;
    let { mode } = checked;
    const existing = await this.lstatOrUndefined(target);
    if (existing && isDirectoryMode(existing.mode)) {
      throw new SandboxError("is_a_directory", `writeFile: ${target} is a directory.`, {
        details: { path: target },
      });
    }
    // Replacing a file keeps its permissions, as editors do.
    if (mode === undefined && existing && isRegularMode(existing.mode)) mode = existing.mode & 0o7777;
    const temp = tempNameFor(target);
    let renamed = false;
    try {
      const write = (): Promise<void> =>
        this.session.operation(
          "writeFile",
          (scope) => writeTempFile(scope, temp, bytes, mode, options.signal),
          {
            path: target,
          },
        );
      try {
        await write();
      } catch (error) {
        if (!isSandboxError(error, "not_found")) throw error;
        await this.mkdirRecursive(posix.dirname(target));
        await write();
      }
      // An abort that came while the data went out must not make it visible.
      throwIfAborted(options.signal);
      await this.replace(temp, target);
      renamed = true;
    } finally {
      // Owed, not just tried: after a connection loss the temp file is removed on reconnect.
      if (!renamed) this.owedUnlinks.add(temp);
    }
  }

  async readFileStream(
    path: string,
    options: ReadFileStreamOptions = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const target = checkRemotePath(path);
    try {
      return await openSftpReadStream(this.session, target, options.signal);
    } catch (error) {
      // Some servers refuse to open a directory at all (OpenSSH opens it and fstat tells).
      if (isSandboxError(error, "io_error") || isSandboxError(error, "permission_denied")) {
        const entry = await this.statOrUndefined(target).catch(() => undefined);
        if (entry && isDirectoryMode(entry.mode)) {
          throw new SandboxError("is_a_directory", `readFileStream: ${target} is a directory.`, {
            details: { path: target },
          });
        }
      }
      throw error;
    }
  }

  async writeFileStream(
    path: string,
    options: WriteFileStreamOptions = {},
  ): Promise<WritableStream<Uint8Array>> {
    const target = checkRemotePath(path);
    const { signal } = options;
    const { temp, writer } = await this.openTemp(target, checkMode(options.mode), "writeFileStream");
    let settled = false;
    let controller: WritableStreamDefaultController | undefined;
    const discard = (): void => {
      settled = true;
      stopListening();
      writer.abandon();
      this.owedUnlinks.add(temp);
    };
    const stopListening = onAbort(signal, (error) => {
      if (settled) return;
      discard();
      controller?.error(error);
    });
    return new WritableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        onStreamAbort(c, () => {
          if (!settled) discard();
        });
      },
      write: async (chunk) => {
        if (!(chunk instanceof Uint8Array)) {
          discard();
          throw invalidArgument("writeFileStream chunks must be Uint8Arrays.");
        }
        try {
          await writer.write(chunk);
        } catch (error) {
          if (!settled) discard();
          throw error;
        }
      },
      close: async () => {
        try {
          await writer.finish();
          throwIfAborted(signal);
          await this.replace(temp, target);
          settled = true;
          stopListening();
        } catch (error) {
          if (!settled) discard();
          throw error;
        }
      },
      abort: () => {
        if (!settled) discard();
      },
    });
  }

  /**
   * Opens a fresh temp file next to `target` for writing, after the checks `writeFile` makes: a
   * directory there is `is_a_directory`, a replaced file keeps its mode, missing parents are
   * created.
   */
  private async openTemp(
    target: string,
    givenMode: number | undefined,
    operation: string,
  ): Promise<{ temp: string; writer: TempWriter }> {
    let mode = givenMode;
    const existing = await this.lstatOrUndefined(target);
    if (existing && isDirectoryMode(existing.mode)) {
      throw new SandboxError("is_a_directory", `${operation}: ${target} is a directory.`, {
        details: { path: target },
      });
    }
    if (mode === undefined && existing && isRegularMode(existing.mode)) mode = existing.mode & 0o7777;
    const temp = tempNameFor(target);
    try {
      return { temp, writer: await openTempWriter(this.session, temp, mode, operation) };
    } catch (error) {
      if (!isSandboxError(error, "not_found")) throw error;
    }
    await this.mkdirRecursive(posix.dirname(target));
    return { temp, writer: await openTempWriter(this.session, temp, mode, operation) };
  }

  async stat(path: string): Promise<FileStat> {
    const target = checkRemotePath(path);
    const link = await this.session.call<Stats>("lstat", (s, done) => s.lstat(target, done), {
      path: target,
    });
    if (!isLinkMode(link.mode)) return toFileStat(link, false);
    try {
      return toFileStat(
        await this.session.call<Stats>("stat", (s, done) => s.stat(target, done), { path: target }),
        true,
      );
    } catch (error) {
      if (!isSandboxError(error, "not_found")) throw error;
      return toFileStat(link, true); // a dangling link: describe the link itself
    }
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const target = checkRemotePath(path);
    let list: Array<{ filename: string; attrs: Stats }>;
    try {
      list = await this.session.call("readdir", (s, done) => s.readdir(target, done as never), {
        path: target,
      });
    } catch (error) {
      // OpenSSH maps ENOTDIR to "no such file", so look at what is there.
      if (isSandboxError(error, "io_error") || isSandboxError(error, "not_found")) {
        const entry = await this.lstatOrUndefined(target);
        if (entry && !isDirectoryMode(entry.mode)) {
          throw new SandboxError("not_a_directory", `readdir: ${target} is not a directory.`, {
            details: { path: target },
          });
        }
      }
      throw error;
    }
    return list
      .filter((entry) => entry.filename !== "." && entry.filename !== "..")
      .map((entry) => ({ name: entry.filename, type: kindOf(entry.attrs.mode), size: entry.attrs.size }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async exists(path: string): Promise<boolean> {
    const target = checkRemotePath(path);
    return (await this.lstatOrUndefined(target)) !== undefined;
  }

  async mkdir(path: string, options: MkdirOptions = {}): Promise<void> {
    const { target, recursive } = checkMkdir(path, options);
    if (recursive) await this.mkdirRecursive(target);
    else await this.mkdirOne(target, false);
  }

  async rm(path: string, options: RmOptions = {}): Promise<void> {
    const { given } = checkRm(path, options);
    const refuse = (target: string): void => {
      if (target === "/" || target === this.homeDir() || target === this.realHome) {
        throw refusedRm(target, given);
      }
    };
    refuse(given);
    let target: string;
    try {
      // Decide on what the path names on the machine (through links and `..`), not on its text.
      // A path ending in `/`, `/.` or `/..` names a directory itself, through a final link too.
      target = NAMES_DIRECTORY_ITSELF.test(path)
        ? await this.realpath(given)
        : await this.resolveParent(given);
    } catch (error) {
      if (options?.force && isSandboxError(error, "not_found")) return;
      throw error;
    }
    this.realHome ??= await this.realpath(this.homeDir()).catch(() => undefined);
    refuse(target);
    const entry = await this.lstatOrUndefined(target);
    if (!entry) {
      if (options?.force) return;
      throw new SandboxError("not_found", `rm: no such file or directory: ${given}.`, {
        details: { path: given },
      });
    }
    if (!isDirectoryMode(entry.mode)) {
      await this.unlink(target, options?.force);
      return;
    }
    if (!options?.recursive) {
      throw new SandboxError(
        "is_a_directory",
        `rm: ${given} is a directory; pass { recursive: true } to remove it.`,
        {
          details: { path: given },
        },
      );
    }
    await this.removeTree(target, options?.force ?? false);
  }

  async rename(from: string, to: string, _options?: FileOptions): Promise<void> {
    const source = checkRemotePath(from, "from");
    const target = checkRemotePath(to, "to");
    await this.replace(source, target);
  }

  async uploadFile(localPath: string, remotePath: string, options: FileOptions = {}): Promise<void> {
    const local = checkLocalPath(localPath);
    const target = checkRemotePath(remotePath, "remotePath");
    const info = await statLocal(local).catch((error: NodeJS.ErrnoException) => {
      throw new SandboxError(
        error.code === "ENOENT" ? "not_found" : "io_error",
        `uploadFile: cannot read local file ${local} (${error.code}).`,
        {
          details: { localPath: local },
        },
      );
    });
    if (!info.isFile()) throw invalidArgument(`uploadFile: ${local} is not a regular file.`);
    if (options.signal) return await this.uploadAbortable(local, target, info.mode & 0o777, options.signal);
    const temp = tempNameFor(target);
    const put = (): Promise<void> =>
      this.session.operation(
        "upload",
        (scope) =>
          scope.transfer(
            (sftp) =>
              new Promise<void>((resolve, reject) =>
                sftp.fastPut(
                  local,
                  temp,
                  { concurrency: TRANSFER_CONCURRENCY, chunkSize: CHUNK_BYTES, mode: info.mode & 0o777 },
                  (error) => (error ? reject(error) : resolve()),
                ),
              ),
            target,
          ),
        { path: target },
      );
    let renamed = false;
    try {
      try {
        await put();
      } catch (error) {
        if (!isSandboxError(error, "not_found")) throw error;
        await this.mkdirRecursive(posix.dirname(target));
        await put();
      }
      await this.replace(temp, target);
      renamed = true;
    } finally {
      if (!renamed) this.owedUnlinks.add(temp);
    }
  }

  /**
   * An upload that an abort stops midway: the local file streamed through a temp writer (fastPut
   * cannot be stopped), its temp file removed, the old remote file kept.
   */
  private async uploadAbortable(
    local: string,
    target: string,
    mode: number,
    signal: AbortSignal,
  ): Promise<void> {
    throwIfAborted(signal);
    const { temp, writer } = await this.openTemp(target, mode, "upload");
    let renamed = false;
    const stopListening = onAbort(signal, () => writer.abandon());
    try {
      for await (const chunk of createReadStream(local, { highWaterMark: CHUNK_BYTES })) {
        throwIfAborted(signal);
        await writer.write(chunk as Buffer);
      }
      await writer.finish();
      throwIfAborted(signal);
      await this.replace(temp, target);
      renamed = true;
    } catch (error) {
      writer.abandon();
      if (SandboxError.isInstance(error)) throw error;
      throw new SandboxError(
        "io_error",
        `uploadFile: reading ${local} failed (${(error as NodeJS.ErrnoException).code ?? "error"}).`,
        { details: { localPath: local } },
      );
    } finally {
      stopListening();
      if (!renamed) this.owedUnlinks.add(temp);
    }
  }

  async downloadFile(remotePath: string, localPath: string, options: FileOptions = {}): Promise<void> {
    const source = checkRemotePath(remotePath, "remotePath");
    const local = checkLocalPath(localPath);
    const info = await this.stat(source);
    if (info.isDirectory) {
      throw new SandboxError("is_a_directory", `downloadFile: ${source} is a directory.`, {
        details: { path: source },
      });
    }
    await mkdirLocal(localDirname(local), { recursive: true });
    const temp = `${local}.${randomBytes(6).toString("hex")}.part`;
    try {
      // Idempotent: a session lost midway means the download starts again into the same temp file.
      await this.session.operation(
        "download",
        (scope) =>
          scope.transfer(
            (sftp) =>
              new Promise<void>((resolve, reject) =>
                sftp.fastGet(
                  source,
                  temp,
                  { concurrency: TRANSFER_CONCURRENCY, chunkSize: CHUNK_BYTES },
                  (error) => (error ? reject(error) : resolve()),
                ),
              ),
            source,
          ),
        { idempotent: true, path: source },
      );
      throwIfAborted(options.signal);
      await renameLocal(temp, local);
    } catch (error) {
      await rmLocal(temp, { force: true });
      throw error;
    }
  }

  // --- helpers ---------------------------------------------------------------------------

  /** Renames `from` onto `to`, replacing a file there. */
  private async replace(from: string, to: string): Promise<void> {
    if (await this.session.supportsPosixRename()) {
      await this.session.call("rename", (s, done) => s.ext_openssh_rename(from, to, done), {
        path: to,
        idempotent: false,
      });
      return;
    }
    try {
      await this.session.call("rename", (s, done) => s.rename(from, to, done), {
        path: to,
        idempotent: false,
      });
      return;
    } catch (error) {
      const existing = isSandboxError(error, "io_error") ? await this.lstatOrUndefined(to) : undefined;
      if (!existing || isDirectoryMode(existing.mode)) throw error;
    }
    // Plain SFTP rename refuses to replace: move the old file aside, rename, then drop it.
    // Not atomic, but the old content survives any failure in between.
    const aside = tempNameFor(to);
    await this.session.call("rename", (s, done) => s.rename(to, aside, done), {
      path: to,
      idempotent: false,
    });
    try {
      await this.session.call("rename", (s, done) => s.rename(from, to, done), {
        path: to,
        idempotent: false,
      });
    } catch (error) {
      await this.session.call("rename", (s, done) => s.rename(aside, to, done), {
        path: to,
        idempotent: false,
      });
      throw error;
    }
    this.owedUnlinks.add(aside);
  }

  private async lstatOrUndefined(path: string): Promise<Stats | undefined> {
    try {
      return await this.session.call<Stats>("lstat", (s, done) => s.lstat(path, done), { path });
    } catch (error) {
      if (isSandboxError(error, "not_found")) return undefined;
      throw error;
    }
  }

  private async mkdirOne(path: string, tolerateExisting: boolean): Promise<void> {
    try {
      await this.session.call("mkdir", (s, done) => s.mkdir(path, done), { path, idempotent: false });
    } catch (error) {
      if (!isSandboxError(error, "io_error")) throw error;
      const entry = await this.lstatOrUndefined(path);
      if (!entry) throw error;
      if (isDirectoryMode(entry.mode)) {
        if (tolerateExisting) return;
        throw new SandboxError("already_exists", `mkdir: ${path} already exists.`, { details: { path } });
      }
      throw new SandboxError("already_exists", `mkdir: ${path} exists and is not a directory.`, {
        details: { path },
      });
    }
  }

  private async mkdirRecursive(path: string): Promise<void> {
    try {
      await this.mkdirOne(path, true);
    } catch (error) {
      if (!isSandboxError(error, "not_found") || path === "/") throw error;
      await this.mkdirRecursive(posix.dirname(path));
      await this.mkdirOne(path, true);
    }
  }

  private async unlink(path: string, force = false): Promise<void> {
    try {
      await this.session.call("unlink", (s, done) => s.unlink(path, done), { path, idempotent: false });
    } catch (error) {
      if (!(force && isSandboxError(error, "not_found"))) throw error;
    }
  }

  private async statOrUndefined(path: string): Promise<Stats | undefined> {
    try {
      return await this.session.call<Stats>("stat", (s, done) => s.stat(path, done), { path });
    } catch (error) {
      if (isSandboxError(error, "not_found")) return undefined;
      throw error;
    }
  }

  /** The server's canonical form of `path` (links and `..` resolved). */
  private realpath(path: string): Promise<string> {
    return this.session.call<string>("realpath", (s, done) => s.realpath(path, done), { path });
  }

  /**
   * `path` with its directory part resolved by the server (links and `..`), its last name kept
   * as is (rm acts on a link, not on what it points to). A last name `..` is resolved too.
   */
  private async resolveParent(path: string): Promise<string> {
    if (path === "/") return path;
    const name = posix.basename(path);
    if (name === "..") return await this.realpath(path);
    const parent = await this.realpath(posix.dirname(path));
    return parent === "/" ? `/${name}` : `${parent}/${name}`;
  }

  /** Removes a directory tree: lists it level by level, then deletes files, then directories deepest first. */
  private async removeTree(root: string, force: boolean): Promise<void> {
    const files: string[] = [];
    const directories: string[][] = [[root]];
    for (let level = directories[0] as string[]; level.length > 0; ) {
      const below: string[] = [];
      await forEachLimited(level, 8, async (directory) => {
        for (const entry of await this.readdir(directory)) {
          const child = posix.join(directory, entry.name);
          if (entry.type === "directory") below.push(child);
          else files.push(child);
        }
      });
      if (below.length > 0) directories.push(below);
      level = below;
    }
    await forEachLimited(files, PIPELINE_DEPTH, (file) => this.unlink(file, true));
    for (const level of directories.reverse()) {
      await forEachLimited(level, PIPELINE_DEPTH, async (directory) => {
        try {
          await this.session.call("rmdir", (s, done) => s.rmdir(directory, done), {
            path: directory,
            idempotent: false,
          });
        } catch (error) {
          if (!(force && isSandboxError(error, "not_found"))) throw error;
        }
      });
    }
  }
}
