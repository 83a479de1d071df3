import { randomBytes } from "node:crypto";
import type { Client } from "ssh2";
import { SandboxError } from "../errors.js";
import type { SandboxTerminal, TerminalOptions } from "../sandbox.js";
import { checkCommandLineBytes } from "../validate.js";
import { type ChannelSlots, ConnectionGone, type ExecChannel, openExec } from "./channels.js";
import type { SshConnection } from "./connection.js";
import { MarkerStripper } from "./output.js";
import type { ProcessKiller } from "./process-killer.js";
import { buildRemoteCommand, type KillTarget } from "./remote-command.js";
import { checkTerminalOptions, checkTerminalSide } from "./terminal-options.js";
import { TerminalOutput } from "./terminal-output.js";

/** With no `command`: the user's shell as a login shell, as `ssh host` starts it. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a template
const LOGIN_SHELL_COMMAND = 'exec "${SHELL:-/bin/sh}" -l';
/** After `close()` asked for the kill, how long to wait for the server to close the channel. */
const CLOSE_GRACE_MS = 5_000;
/** ssh2's error when the server answered the pty request with a failure. */
const PTY_REFUSED = "Unable to request a pseudo-terminal";

/** What a terminal needs from its sandbox. */
export interface TerminalContext {
  connection: SshConnection;
  slots: ChannelSlots;
  killer: ProcessKiller;
  /** The server's own command-line bound: the line goes in an SSH exec request on every transport. */
  commandLineLimit: () => number;
  /**
   * When set, each terminal runs on a connection of its own from this factory instead of taking
   * a work slot: for servers limited to one work channel (Dropbear's issue 321, see
   * workChannelCapFor), where the agent or a command holds that slot for as long as it runs.
   */
  ownConnection?: () => { connection: SshConnection; close: () => void };
}

function isPtyRefusal(error: unknown): boolean {
  const cause = (error as { cause?: unknown })?.cause ?? error;
  return (cause as Error)?.message === PTY_REFUSED;
}

/**
 * Opens a terminal: one exec channel with a pty request, holding a work slot for its life, on
 * either transport (the agent speaks over its own channel of the same connection; a terminal
 * needs the server's pty, which only the SSH server can allocate). The command line is exec's
 * (buildRemoteCommand): the run tag and the shell's pid marker let `close()` kill the whole
 * tree as exec's timeout does. The marker comes out on the terminal (stderr is the pty) and is
 * stripped from the output.
 */
export async function openTerminal(
  context: TerminalContext,
  options?: TerminalOptions,
): Promise<SandboxTerminal> {
  const checked = checkTerminalOptions(options);
  const tag = `exedev-run-${randomBytes(9).toString("hex")}`;
  // TERM is exported too: not every server sets it from the pty request. `env` may override it.
  const env = { TERM: checked.term, ...checked.env };
  const line = buildRemoteCommand(checked.command ?? LOGIN_SHELL_COMMAND, checked.cwd, env, tag, false);
  checkCommandLineBytes(line, context.commandLineLimit());

  const own = context.ownConnection?.();
  const connection = own?.connection ?? context.connection;
  const permit = own ? { opened: () => {}, release: () => own.close() } : await context.slots.acquireWork();
  let client: Client;
  let opened: ExecChannel;
  try {
    client = await connection.get();
    try {
      opened = await openExec(
        client,
        () => connection.isCurrent(client),
        line,
        undefined,
        own ? undefined : context.slots.onWorkRefused(),
        { pty: { cols: checked.cols, rows: checked.rows, width: 0, height: 0, term: checked.term } },
      );
    } catch (error) {
      if (error instanceof ConnectionGone) {
        context.killer.owe({ tag });
        throw own ? lostOwnConnection() : await connection.lostError("openTerminal", client);
      }
      if (isPtyRefusal(error)) {
        throw new SandboxError(
          "unsupported",
          "The SSH server refused to allocate a terminal (pty request).",
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  } catch (error) {
    permit.release();
    throw error;
  }
  permit.opened();
  const lost = (): Promise<SandboxError> =>
    own ? Promise.resolve(lostOwnConnection()) : connection.lostError("a terminal session", client);
  return new SshTerminal(
    context,
    connection,
    opened,
    () => connection.isCurrent(client),
    lost,
    tag,
    permit.release,
  );
}

function lostOwnConnection(): SandboxError {
  return new SandboxError(
    "connection_failed",
    "The SSH connection of the terminal was lost; open a new terminal.",
  );
}

class SshTerminal implements SandboxTerminal {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly #context: TerminalContext;
  readonly #connection: SshConnection;
  readonly #opened: ExecChannel;
  readonly #output: TerminalOutput;
  #target: KillTarget;
  #exitCode: number | undefined;
  #channelClosed = false;
  readonly #closed: Promise<void>;
  readonly #exit: Promise<{ exitCode: number }>;
  #closing: Promise<void> | undefined;

  constructor(
    context: TerminalContext,
    connection: SshConnection,
    opened: ExecChannel,
    isCurrent: () => boolean,
    lost: () => Promise<SandboxError>,
    tag: string,
    release: () => void,
  ) {
    this.#context = context;
    this.#connection = connection;
    this.#opened = opened;
    this.#target = { tag };
    const { channel } = opened;
    const hold = (): (() => void) => connection.hold();
    const output = new TerminalOutput(channel, hold);
    this.#output = output;
    this.readable = output.stream;
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.#send(Buffer.from(chunk)),
      close: () => {
        if (channel.writable) channel.end();
      },
    });

    const onMarker = (shell: { pid: number; startTicks: string }): void => {
      this.#target = { tag, pid: shell.pid, startTicks: shell.startTicks };
      if (this.#closing) context.killer.kill(this.#target);
    };
    const stripper = new MarkerStripper(onMarker, (chunk) => output.push(chunk));
    // With a pty the server merges stderr into the terminal; a server that still sends it apart
    // (the marker included) is shown on the terminal too.
    const stderrStripper = new MarkerStripper(onMarker, (chunk) => output.push(chunk));
    channel.on("data", (chunk: Buffer) => stripper.push(chunk));
    channel.stderr.on("data", (chunk: Buffer) => stderrStripper.push(chunk));
    channel.on("error", () => {
      // Reported through `close` without an exit status.
    });

    let settle: (outcome: { exitCode: number } | Error) => void = () => {};
    const exit = new Promise<{ exitCode: number }>((resolve, reject) => {
      settle = (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome));
    });
    // Nobody may ever call wait(); its rejection must not surface as unhandled.
    exit.catch(() => {});
    this.#exit = exit;
    // The status can arrive long before the channel closes (a background job holding the pty).
    channel.on("exit", () => {
      const code = opened.exitCode();
      if (code !== undefined) {
        this.#exitCode = code;
        settle({ exitCode: code });
      }
    });
    this.#closed = new Promise<void>((resolve) => {
      channel.once("close", () => {
        this.#channelClosed = true;
        release();
        stripper.end();
        stderrStripper.end();
        output.end();
        const code = opened.exitCode();
        if (code !== undefined) {
          this.#exitCode = code;
          settle({ exitCode: code });
        } else if (this.#closing) {
          settle(
            new SandboxError("closed", "The terminal was closed before its program reported an exit status."),
          );
        } else if (!isCurrent()) {
          // The connection went: the program may still run on the machine; it is killed once
          // a connection is back.
          context.killer.owe(this.#target);
          lost().then(settle, settle);
        } else {
          settle(
            new SandboxError("channel_failed", "The server closed the terminal without an exit status."),
          );
        }
        resolve();
      });
    });
  }

  write(data: string | Uint8Array): Promise<void> {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      return Promise.reject(new SandboxError("invalid_argument", "write takes a string or a Uint8Array."));
    }
    return this.#send(typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data));
  }

  async resize(cols: number, rows: number): Promise<void> {
    checkTerminalSide(cols, "cols");
    checkTerminalSide(rows, "rows");
    this.#checkOpen();
    // A window-change request has no reply; it is sent in order with the keystrokes, so input
    // written after this resolves reaches a program that already has the new size.
    this.#opened.channel.setWindow(rows, cols, 0, 0);
  }

  wait(): Promise<{ exitCode: number }> {
    const release = this.#connection.hold();
    return this.#exit.finally(release);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // The tag (and, once the marker came, the pid) finds the program and all it started,
      // even children that left the terminal's session or outlived the program (`cmd &`).
      this.#context.killer.kill(this.#target);
      if (this.#channelClosed) return;
      this.#output.unbound();
      // Closing the channel also hangs the pty up.
      this.#opened.channel.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#closed,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, CLOSE_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
    })();
    return this.#closing;
  }

  #checkOpen(): void {
    if (this.#closing || this.#channelClosed || !this.#opened.channel.writable) {
      throw new SandboxError("closed", "The terminal has ended; open a new one to continue.");
    }
  }

  async #send(data: Buffer): Promise<void> {
    this.#checkOpen();
    const release = this.#connection.hold();
    try {
      await new Promise<void>((resolve, reject) => {
        this.#opened.channel.write(data, (error) =>
          error
            ? reject(
                new SandboxError("closed", "The terminal ended before the input was sent.", { cause: error }),
              )
            : resolve(),
        );
      });
    } finally {
      release();
    }
  }
}
