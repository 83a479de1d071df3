import { AgentFiles } from "../agent/agent-files.js";
import { runKillOnAgent } from "../agent/agent-kill.js";
import { AgentTransport, AgentUnavailable, type Transport } from "../agent/agent-transport.js";
import { SandboxError } from "../errors.js";
import { ProcessHost } from "../process/process-host.js";
import {
  attachProcess,
  checkProcessId,
  checkSpawn,
  listProcesses,
  type ProcessContext,
  spawnProcess,
} from "../process/spawn-process.js";
import { waitForOutput, waitForPort } from "../process/wait-for.js";
import type {
  ExposedPort,
  ExposeLocalPortOptions,
  ForwardPortOptions,
  PortForward,
  PortForwarding,
} from "../reach.js";
import type {
  DirEntry,
  DirectoryTransferOptions,
  DirectoryTransferResult,
  ExecOptions,
  ExecResult,
  FileOptions,
  FileStat,
  MkdirOptions,
  ProcessInfo,
  ReadFileOptions,
  ReadFileStreamOptions,
  RmOptions,
  Sandbox,
  SandboxProcess,
  SandboxTerminal,
  ShellOptions,
  SpawnOptions,
  TerminalOptions,
  WaitForOutputOptions,
  WaitForPortOptions,
  WriteFileOptions,
  WriteFileStreamOptions,
} from "../sandbox.js";
import { openShellSession, type ShellSession } from "../shell/shell-session.js";
import { downloadDirectory } from "../transfer/download-directory.js";
import { uploadDirectory } from "../transfer/upload-directory.js";
import { ChannelSlots, drainUntilClosed, openExec } from "./channels.js";
import {
  type ConnectOptions,
  type ResolvedConnectOptions,
  resolveConnectOptions,
} from "./connect-options.js";
import { SshConnection } from "./connection.js";
import { type ExecContext, runExec } from "./exec.js";
import { abortable, signalOf } from "./file-abort.js";
import { type ForwardingLink, forwardingLinkOf } from "./forwarding-link.js";
import { heldReadable, heldWritable } from "./held-streams.js";
import { OutputCollector } from "./output.js";
import { PortForwards } from "./port-forwards.js";
import { ProcessKiller } from "./process-killer.js";
import { commandLineLimitFor, MAX_COMMAND_LINE_BYTES } from "./remote-command.js";
import { serverSoftwareOf, workChannelCapFor } from "./server-software.js";
import { SftpFiles } from "./sftp-files.js";
import { SftpSession } from "./sftp-session.js";
import { openTerminal } from "./terminal.js";

/**
 * The context a sandbox runs commands with, for core's own modules (live commands, the process
 * host, shell sessions); not part of the public API.
 */
export let execContextOf: (sandbox: SshSandbox) => ExecContext;

/** The sandbox's SSH connection as port forwards use it (exe.dev's forwards outlive a restart). */
export let connectionLinkOf: (sandbox: SshSandbox) => ForwardingLink;

/** How long `close()` waits for the kills of what its shell sessions run. */
const CLOSE_KILL_WAIT_MS = 3_000;

/**
 * A {@link Sandbox} over one persistent SSH connection. With the agent transport (the default
 * when the VM has perl) a small helper in the VM serves commands and files over one channel;
 * otherwise commands run on multiplexed exec channels and files move over one lazily opened
 * SFTP session. Works against any OpenSSH server.
 *
 * The package exports this as a type only: get an instance from {@link connectSandbox}.
 */
export class SshSandbox implements Sandbox, PortForwarding {
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
  readonly #processes: ProcessHost;
  #closing: Promise<void> | undefined;
  /** Open shell sessions, ended with the sandbox. */
  readonly #shells = new Set<ShellSession>();
  /** Set for servers limited to one work channel: each terminal then gets a connection of its own. */
  #terminalConnection: (() => { connection: SshConnection; close: () => void }) | undefined;
  readonly #newConnection: () => SshConnection;
  /** Terminals' own connections, closed with the sandbox. */
  readonly #terminalConnections = new Set<SshConnection>();
  readonly #forwards: PortForwards;

  /** Use {@link connectSandbox}; the constructor does no I/O. */
  constructor(options: ResolvedConnectOptions) {
    this.host = options.host;
    this.port = options.port;
    this.username = options.username;
    this.#connection = new SshConnection(options);
    this.#newConnection = () => new SshConnection(options);
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
    this.#processes = new ProcessHost(() => this.#execContext());
    this.#forwards = new PortForwards(forwardingLinkOf(this.#connection));
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
      this.#terminalConnection = () => {
        const connection = this.#newConnection();
        this.#terminalConnections.add(connection);
        return {
          connection,
          close: () => {
            this.#terminalConnections.delete(connection);
            connection.close();
          },
        };
      };
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
    return this.#held(() => runExec(this.#execContext(), command, options));
  }

  /** What commands run with: the connection, slots, killer, line limit and agent. */
  #execContext(): ExecContext {
    return {
      connection: this.#connection,
      slots: this.#slots,
      killer: this.#killer,
      // Through the agent the line is an argument of its own exec, not an SSH request.
      commandLineLimit: () =>
        this.#agent.transport === "agent" ? MAX_COMMAND_LINE_BYTES : this.#commandLineLimit,
      agent: this.#agent,
    };
  }

  static {
    execContextOf = (sandbox) => sandbox.#execContext();
    connectionLinkOf = (sandbox) => forwardingLinkOf(sandbox.#connection);
  }

  spawn(command: string, options?: SpawnOptions): Promise<SandboxProcess> {
    return this.#held(async () => spawnProcess(this.#processContext(), checkSpawn(command, options)));
  }

  listProcesses(): Promise<ProcessInfo[]> {
    return this.#held(() => listProcesses(this.#processContext()));
  }

  attachProcess(id: string): Promise<SandboxProcess> {
    return this.#held(async () => attachProcess(this.#processContext(), checkProcessId(id)));
  }

  waitForPort(port: number, options?: WaitForPortOptions): Promise<void> {
    return this.#held(() =>
      waitForPort((command, execOptions) => this.exec(command, execOptions), port, options),
    );
  }

  waitForOutput(
    process: SandboxProcess,
    pattern: string | RegExp,
    options?: WaitForOutputOptions,
  ): Promise<string> {
    return this.#held(() => waitForOutput(process, pattern, options));
  }

  /** What spawned processes run with: the sandbox's process host. */
  #processContext(): ProcessContext {
    return { host: this.#processes, hold: () => this.#connection.hold() };
  }

  openTerminal(options?: TerminalOptions): Promise<SandboxTerminal> {
    return this.#held(() =>
      openTerminal(
        {
          connection: this.#connection,
          slots: this.#slots,
          killer: this.#killer,
          // A channel on every transport: the line is an SSH exec request, so the server's bound holds.
          commandLineLimit: () => this.#commandLineLimit,
          ownConnection: this.#terminalConnection,
        },
        options,
      ),
    );
  }

  openShell(options?: ShellOptions): Promise<ShellSession> {
    return this.#held(async () => {
      const shell = await openShellSession(this.#execContext(), options, (work) => this.#held(work));
      this.#shells.add(shell);
      void shell.ended.then(() => this.#shells.delete(shell));
      return shell;
    });
  }

  forwardPort(remotePort: number, options?: ForwardPortOptions): Promise<PortForward> {
    return this.#forwards.forwardPort(remotePort, options);
  }

  exposeLocalPort(localPort: number, options?: ExposeLocalPortOptions): Promise<ExposedPort> {
    return this.#forwards.exposeLocalPort(localPort, options);
  }

  readFile(path: string, options?: ReadFileOptions): Promise<string> {
    return this.#file(
      options,
      "readFile options",
      () => this.#agentFiles.readFile(path, options),
      () => this.#files.readFile(path, options),
    );
  }

  readFileBuffer(path: string, options?: ReadFileOptions): Promise<Uint8Array> {
    return this.#file(
      options,
      "readFile options",
      () => this.#agentFiles.readFileBuffer(path, options),
      () => this.#files.readFileBuffer(path, options),
    );
  }

  writeFile(path: string, data: string | Uint8Array, options?: WriteFileOptions): Promise<void> {
    return this.#file(
      options,
      "writeFile options",
      () => this.#agentFiles.writeFile(path, data, options),
      () => this.#files.writeFile(path, data, options),
    );
  }

  readFileStream(path: string, options?: ReadFileStreamOptions): Promise<ReadableStream<Uint8Array>> {
    const stream = this.#file(
      options,
      "readFileStream options",
      () => this.#agentFiles.readFileStream(path, options),
      () => this.#files.readFileStream(path, options),
    );
    return stream.then((inner) => heldReadable(inner, (work) => this.#held(work)));
  }

  writeFileStream(path: string, options?: WriteFileStreamOptions): Promise<WritableStream<Uint8Array>> {
    const stream = this.#file(
      options,
      "writeFileStream options",
      () => this.#agentFiles.writeFileStream(path, options),
      () => this.#files.writeFileStream(path, options),
    );
    return stream.then((inner) => heldWritable(inner, (work) => this.#held(work)));
  }

  stat(path: string, options?: FileOptions): Promise<FileStat> {
    return this.#file(
      options,
      "stat options",
      () => this.#agentFiles.stat(path, options),
      () => this.#files.stat(path),
    );
  }

  readdir(path: string, options?: FileOptions): Promise<DirEntry[]> {
    return this.#file(
      options,
      "readdir options",
      () => this.#agentFiles.readdir(path, options),
      () => this.#files.readdir(path),
    );
  }

  exists(path: string, options?: FileOptions): Promise<boolean> {
    return this.#file(
      options,
      "exists options",
      () => this.#agentFiles.exists(path, options),
      () => this.#files.exists(path),
    );
  }

  mkdir(path: string, options?: MkdirOptions): Promise<void> {
    return this.#file(
      options,
      "mkdir options",
      () => this.#agentFiles.mkdir(path, options),
      () => this.#files.mkdir(path, options),
    );
  }

  rm(path: string, options?: RmOptions): Promise<void> {
    return this.#file(
      options,
      "rm options",
      () => this.#agentFiles.rm(path, options),
      () => this.#files.rm(path, options),
    );
  }

  rename(from: string, to: string, options?: FileOptions): Promise<void> {
    return this.#file(
      options,
      "rename options",
      () => this.#agentFiles.rename(from, to, options),
      () => this.#files.rename(from, to, options),
    );
  }

  uploadFile(localPath: string, remotePath: string, options?: FileOptions): Promise<void> {
    return this.#file(
      options,
      "uploadFile options",
      () => this.#agentFiles.uploadFile(localPath, remotePath, options),
      () => this.#files.uploadFile(localPath, remotePath, options),
    );
  }

  downloadFile(remotePath: string, localPath: string, options?: FileOptions): Promise<void> {
    return this.#file(
      options,
      "downloadFile options",
      () => this.#agentFiles.downloadFile(remotePath, localPath, options),
      () => this.#files.downloadFile(remotePath, localPath, options),
    );
  }

  uploadDirectory(
    localDir: string,
    remoteDir: string,
    options?: DirectoryTransferOptions,
  ): Promise<DirectoryTransferResult> {
    return uploadDirectory(this, localDir, remoteDir, options);
  }

  downloadDirectory(
    remoteDir: string,
    localDir: string,
    options?: DirectoryTransferOptions,
  ): Promise<DirectoryTransferResult> {
    return downloadDirectory(this, remoteDir, localDir, options);
  }

  /**
   * A file call: its `signal` checked before any I/O, and the call rejected with `aborted` the
   * moment it fires (the transport stops its own work and cleans up behind it).
   */
  #file<T>(
    options: unknown,
    what: string,
    onAgent: () => Promise<T>,
    onChannels: () => Promise<T>,
  ): Promise<T> {
    return this.#held(async () => {
      const signal = signalOf(options, what);
      return await abortable(signal, () => this.#route(onAgent, onChannels));
    });
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
      // First: on the channel transport its end of input is what kills non-detached processes.
      this.#processes.close();
      if (this.#shells.size > 0) {
        // On channels nothing else would stop what a session runs: its kill must get out
        // before the connection it travels on closes (bounded, for a dead connection).
        for (const shell of this.#shells) shell.abandon();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.#killer.settled(),
          new Promise((resolve) => {
            timer = setTimeout(resolve, CLOSE_KILL_WAIT_MS);
          }),
        ]);
        clearTimeout(timer);
      }
      await this.#forwards.close();
      this.#agent.close();
      this.#sftp.close();
      this.#connection.close();
      for (const connection of this.#terminalConnections) connection.close();
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
