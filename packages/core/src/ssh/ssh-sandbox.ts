import { SandboxError } from "../errors.js";
import type {
  DirEntry,
  ExecOptions,
  ExecResult,
  FileStat,
  MkdirOptions,
  ReadFileOptions,
  RmOptions,
  Sandbox,
  WriteFileOptions,
} from "../sandbox.js";
import { ChannelSlots, drainUntilClosed, openExec } from "./channels.js";
import {
  type ConnectOptions,
  type ResolvedConnectOptions,
  resolveConnectOptions,
} from "./connect-options.js";
import { SshConnection } from "./connection.js";
import { runExec } from "./exec.js";
import { OutputCollector } from "./output.js";
import { ProcessKiller } from "./process-killer.js";
import { commandLineLimitFor, MAX_COMMAND_LINE_BYTES } from "./remote-command.js";
import { serverSoftwareOf, workChannelCapFor } from "./server-software.js";
import { SftpFiles } from "./sftp-files.js";
import { SftpSession } from "./sftp-session.js";

/**
 * A {@link Sandbox} over one persistent SSH connection: commands run on multiplexed exec
 * channels, files move over one lazily opened SFTP session. Works against any OpenSSH server.
 */
export class SshSandbox implements Sandbox {
  /** The options it connected with (defaults applied; no key material). */
  readonly host: string;
  readonly port: number;
  readonly username: string;
  // Private (#) fields: `console.log(sandbox)` and `util.inspect` must never reach the
  // connection, whose options and ssh2 client hold the key, passphrase and agent socket.
  #home = "";
  #commandLineLimit = MAX_COMMAND_LINE_BYTES;
  readonly #connection: SshConnection;
  readonly #slots: ChannelSlots;
  readonly #killer: ProcessKiller;
  readonly #sftp: SftpSession;
  readonly #files: SftpFiles;
  #closing: Promise<void> | undefined;

  /** Use {@link connectSandbox}; the constructor does no I/O. */
  constructor(options: ResolvedConnectOptions) {
    this.host = options.host;
    this.port = options.port;
    this.username = options.username;
    this.#connection = new SshConnection(options);
    this.#slots = new ChannelSlots(options.maxChannels);
    // A kill the server refuses a channel for goes over a spare connection (own session budget).
    this.#killer = new ProcessKiller(this.#connection, this.#slots, () => new SshConnection(options));
    this.#sftp = new SftpSession(this.#connection, this.#slots, options.sftpTimeoutMs);
    this.#files = new SftpFiles(this.#sftp, () => this.#home);
  }

  /** The remote `$HOME`. */
  get homeDir(): string {
    return this.#home;
  }

  /** Connects and learns the home directory. Called once by {@link connectSandbox}. */
  open(): Promise<this> {
    return this.#held(() => this.#open());
  }

  async #open(): Promise<this> {
    const client = await this.#connection.get();
    const software = serverSoftwareOf(client);
    this.#commandLineLimit = commandLineLimitFor(software);
    const cap = workChannelCapFor(software);
    if (cap !== undefined) {
      this.#slots.separateSftp(cap);
      this.#killer.preferSpareConnection();
    }
    // A bare exec (no wrapper) to read $HOME; it also proves that commands run.
    const { channel } = await openExec(client, () => this.#connection.isCurrent(client), 'printf %s "$HOME"');
    const output = new OutputCollector(4096);
    channel.on("data", (chunk: Buffer) => output.push(chunk));
    channel.end();
    await drainUntilClosed(channel);
    this.#home = output.text() || "/";
    return this;
  }

  exec(command: string, options?: ExecOptions): Promise<ExecResult> {
    return this.#held(() =>
      runExec(
        {
          connection: this.#connection,
          slots: this.#slots,
          killer: this.#killer,
          commandLineLimit: () => this.#commandLineLimit,
        },
        command,
        options,
      ),
    );
  }

  readFile(path: string, options?: ReadFileOptions): Promise<string> {
    return this.#held(() => this.#files.readFile(path, options));
  }

  readFileBuffer(path: string, options?: ReadFileOptions): Promise<Uint8Array> {
    return this.#held(() => this.#files.readFileBuffer(path, options));
  }

  writeFile(path: string, data: string | Uint8Array, options?: WriteFileOptions): Promise<void> {
    return this.#held(() => this.#files.writeFile(path, data, options));
  }

  stat(path: string): Promise<FileStat> {
    return this.#held(() => this.#files.stat(path));
  }

  readdir(path: string): Promise<DirEntry[]> {
    return this.#held(() => this.#files.readdir(path));
  }

  exists(path: string): Promise<boolean> {
    return this.#held(() => this.#files.exists(path));
  }

  mkdir(path: string, options?: MkdirOptions): Promise<void> {
    return this.#held(() => this.#files.mkdir(path, options));
  }

  rm(path: string, options?: RmOptions): Promise<void> {
    return this.#held(() => this.#files.rm(path, options));
  }

  rename(from: string, to: string): Promise<void> {
    return this.#held(() => this.#files.rename(from, to));
  }

  uploadFile(localPath: string, remotePath: string): Promise<void> {
    return this.#held(() => this.#files.uploadFile(localPath, remotePath));
  }

  downloadFile(remotePath: string, localPath: string): Promise<void> {
    return this.#held(() => this.#files.downloadFile(remotePath, localPath));
  }

  /**
   * Runs a call as pending work: while it runs the connection keeps the process alive; an idle
   * sandbox never does (a script that forgets `close()` still exits).
   */
  async #held<T>(work: () => Promise<T>): Promise<T> {
    const release = this.#connection.hold();
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** Closes the SFTP session and the connection; calls waiting for a reconnect reject with `closed`. Safe to call more than once. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#sftp.close();
      this.#connection.close();
    })();
    return this.#closing;
  }

  /** Same as {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Connects to an SSH server and returns a ready {@link SshSandbox}.
 *
 * @example
 * const sandbox = await connectSandbox({ host: "my-vm.exe.xyz", privateKeyPath: "~/.ssh/id_ed25519" });
 * const { stdout } = await sandbox.exec("uname -a");
 * await sandbox.close();
 */
export async function connectSandbox(options: ConnectOptions): Promise<SshSandbox> {
  const sandbox = new SshSandbox(resolveConnectOptions(options));
  try {
    return await sandbox.open();
  } catch (error) {
    await sandbox.close();
    throw SandboxError.isInstance(error)
      ? error
      : new SandboxError("connection_failed", (error as Error).message, { cause: error });
  }
}
