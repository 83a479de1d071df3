import { AgentFiles } from "../agent/agent-files.js";
import { runKillOnAgent } from "../agent/agent-kill.js";
import { AgentTransport, AgentUnavailable, type Transport } from "../agent/agent-transport.js";
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
 * A {@link Sandbox} over one persistent SSH connection. With the agent transport (the default
 * when the VM has perl) a small helper in the VM serves commands and files over one channel;
 * otherwise commands run on multiplexed exec channels and files move over one lazily opened
 * SFTP session. Works against any OpenSSH server.
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
  readonly #agent: AgentTransport;
  readonly #agentFiles: AgentFiles;
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
    this.#agent = new AgentTransport(
      options.transport,
      this.#connection,
      this.#slots,
      () => this.#commandLineLimit,
    );
    this.#agentFiles = new AgentFiles(this.#agent, this.#connection, () => this.#home);
    this.#killer.useAgent((command) => runKillOnAgent(this.#agent, command));
  }

  /** How commands and files travel now: `"agent"` or `"channels"` (see `ConnectOptions.transport`). */
  get transport(): Transport {
    return this.#agent.transport;
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
    if (this.#agent.choice !== "channels") {
      // The agent's HELLO carries $HOME: starting it is the step that learns the home directory.
      try {
        this.#home = (await this.#agent.session()).home || "/";
        return this;
      } catch (error) {
        if (!(error instanceof AgentUnavailable)) throw error;
        this.#agent.fallBack(error);
      }
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
          // Through the agent the line is an argument of its own exec, not an SSH request.
          commandLineLimit: () =>
            this.#agent.transport === "agent" ? MAX_COMMAND_LINE_BYTES : this.#commandLineLimit,
          agent: this.#agent,
        },
        command,
        options,
      ),
    );
  }

  readFile(path: string, options?: ReadFileOptions): Promise<string> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.readFile(path, options),
        () => this.#files.readFile(path, options),
      ),
    );
  }

  readFileBuffer(path: string, options?: ReadFileOptions): Promise<Uint8Array> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.readFileBuffer(path, options),
        () => this.#files.readFileBuffer(path, options),
      ),
    );
  }

  writeFile(path: string, data: string | Uint8Array, options?: WriteFileOptions): Promise<void> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.writeFile(path, data, options),
        () => this.#files.writeFile(path, data, options),
      ),
    );
  }

  stat(path: string): Promise<FileStat> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.stat(path),
        () => this.#files.stat(path),
      ),
    );
  }

  readdir(path: string): Promise<DirEntry[]> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.readdir(path),
        () => this.#files.readdir(path),
      ),
    );
  }

  exists(path: string): Promise<boolean> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.exists(path),
        () => this.#files.exists(path),
      ),
    );
  }

  mkdir(path: string, options?: MkdirOptions): Promise<void> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.mkdir(path, options),
        () => this.#files.mkdir(path, options),
      ),
    );
  }

  rm(path: string, options?: RmOptions): Promise<void> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.rm(path, options),
        () => this.#files.rm(path, options),
      ),
    );
  }

  rename(from: string, to: string): Promise<void> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.rename(from, to),
        () => this.#files.rename(from, to),
      ),
    );
  }

  uploadFile(localPath: string, remotePath: string): Promise<void> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.uploadFile(localPath, remotePath),
        () => this.#files.uploadFile(localPath, remotePath),
      ),
    );
  }

  downloadFile(remotePath: string, localPath: string): Promise<void> {
    return this.#held(() =>
      this.#route(
        () => this.#agentFiles.downloadFile(remotePath, localPath),
        () => this.#files.downloadFile(remotePath, localPath),
      ),
    );
  }

  /** Runs a call on the agent, or on the channels when the transport is (or just became) channels. */
  async #route<T>(onAgent: () => Promise<T>, onChannels: () => Promise<T>): Promise<T> {
    if (this.#agent.transport === "agent") {
      try {
        return await onAgent();
      } catch (error) {
        // Thrown before anything was sent: safe to run the call on the channels instead.
        if (!(error instanceof AgentUnavailable)) throw error;
        this.#agent.fallBack(error);
      }
    }
    return await onChannels();
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
      this.#agent.close();
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
