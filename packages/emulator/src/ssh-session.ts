import type { ChildProcess } from "node:child_process";
import { constants } from "node:os";
import type { Writable } from "node:stream";
import type { PseudoTtyInfo, ServerChannel, Session } from "ssh2";
import type { FaultState } from "./faults.js";
import { type ProcessRunner, signalGroup } from "./process-runner.js";
import { PtyInput } from "./pty-helper.js";
import { serveSftp } from "./sftp-server.js";
import type { StateStore } from "./state-store.js";

/** What a session needs from the emulator. */
export interface SessionDeps {
  store: StateStore;
  processes: ProcessRunner;
  faults: FaultState;
}

function isSignalName(name: string): name is NodeJS.Signals {
  return Object.hasOwn(constants.signals, name);
}

/** Resolves once a writable has handed everything it buffered to the SSH layer. */
function flushed(stream: Writable): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

interface ChannelInternals {
  writable: boolean;
  outgoing: { id: number; state: string };
  _client?: {
    _protocol?: {
      exitStatus(id: number, status: number): void;
      exitSignal(id: number, name: string, coreDumped: boolean, message: string): void;
    };
  };
}

/**
 * Sends exit-status or exit-signal. After the client has closed the channel ssh2's `exit()`
 * sends nothing (the stream has ended), but sshd still reports how the command ended before
 * its own CLOSE, so then the message goes straight to ssh2's protocol layer.
 */
function sendExit(channel: ServerChannel, code: number | null, signal: NodeJS.Signals | null): void {
  const internals = channel as unknown as ChannelInternals;
  const open = internals.outgoing.state === "open" || internals.outgoing.state === "eof";
  const protocol = internals._client?._protocol;
  const direct = !internals.writable && open && protocol !== undefined;
  const status = (value: number): void => {
    if (direct) protocol.exitStatus(internals.outgoing.id, value);
    else channel.exit(value);
  };
  if (code !== null) {
    status(code);
    return;
  }
  const name = signal ?? "SIGKILL";
  try {
    if (direct) protocol.exitSignal(internals.outgoing.id, name.replace(/^SIG/, ""), false, "");
    else channel.exit(name, false, "");
  } catch {
    // ssh2 knows only the signals RFC 4254 names; report others the shell's way.
    status(128 + (constants.signals[name] ?? 9));
  }
}

/**
 * Keeps a channel open until its command has exited, as sshd does: a CLOSE from the client
 * closes the command's pipes at once, but sshd confirms it (and frees the session's slot) only
 * once the process is gone, after sending its exit status.
 * @returns `exited(code, signal)`, to call once the process has exited.
 */
function holdCloseUntilExit(
  channel: ServerChannel,
): (code: number | null, signal: NodeJS.Signals | null) => Promise<void> {
  const close = channel.close.bind(channel);
  let exited = false;
  let closeWanted = false;
  channel.close = () => {
    if (exited) close();
    else closeWanted = true;
  };
  return async (code, signal) => {
    if (exited) return;
    if (closeWanted) {
      // The client closed first; its pipes are gone, so only the status and CLOSE are left.
      sendExit(channel, code, signal);
      exited = true;
      close();
      return;
    }
    await Promise.all([flushed(channel), flushed(channel.stderr)]);
    exited = true;
    // The connection may have died meanwhile (ssh2 then closes without asking us).
    if (channel.destroyed || (channel as unknown as ChannelInternals).outgoing.state === "closed") return;
    sendExit(channel, code, signal);
    channel.end();
  };
}

/**
 * Wires a session's process to its channel as sshd does: stdin from the channel (its EOF
 * closes stdin), stdout and stderr kept apart, then the exit status. If the client closes the
 * channel first, the process is not killed, but its pipes close, so it gets SIGPIPE on its
 * next write, as under OpenSSH; the channel's CLOSE is answered once the process has exited.
 * @param onExit - Called once the process has exited and the channel is done with.
 */
function attach(channel: ServerChannel, child: ChildProcess, onExit: () => void, pty?: PtyInput): void {
  const { stdin, stdout, stderr } = child;
  if (!stdin || !stdout || !stderr) throw new Error("the child must have piped stdio");
  const exited = holdCloseUntilExit(channel);
  stdin.on("error", () => {});
  // On a pty, typed input goes in frames; the client's EOF means nothing to a terminal (sshd
  // keeps it too), and only the channel's close hangs it up.
  if (pty) channel.on("data", (chunk: Buffer) => pty.data(chunk));
  else channel.pipe(stdin);
  // `end: false`: the exit status must go out before the channel ends.
  stdout.pipe(channel, { end: false });
  stderr.pipe(channel.stderr, { end: false });
  channel.on("close", () => {
    stdout.destroy();
    stderr.destroy();
    if (pty) pty.hangup();
    else stdin.destroy();
  });
  let done = false;
  const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
    if (done) return;
    done = true;
    void exited(code, signal).finally(onExit);
  };
  child.on("error", (error: NodeJS.ErrnoException) => {
    if (child.pid === undefined && channel.writable) {
      channel.stderr.write(`exedev-emulator: cannot start the command: ${error.code ?? error.message}\n`);
    }
    finish(127, null);
  });
  child.on("close", (code, signal) => finish(code, signal));
}

/**
 * Serves one session channel of a logged-in VM user: `env`, `pty` and `window-change`, `exec`,
 * `shell` (without a pty: commands read from stdin; with one: an interactive login shell),
 * `signal` and the `sftp` subsystem. X11, agent forwarding and other subsystems are refused.
 * @param onDone - Called once, when the session no longer holds a slot: closed by both sides
 *   and its command (if any) exited.
 */
export function serveSession(session: Session, vm: string, deps: SessionDeps, onDone: () => void): void {
  const env: Record<string, string> = {};
  let running: ChildProcess | undefined;
  let sessionClosed = false;
  let commandRunning = false;
  let released = false;
  const releaseIfDone = (): void => {
    if (released || !sessionClosed || commandRunning) return;
    released = true;
    onDone();
  };
  session.once("close", () => {
    sessionClosed = true;
    releaseIfDone();
  });

  let terminal: PseudoTtyInfo | undefined;
  let ptyInput: PtyInput | undefined;
  const start = (channel: ServerChannel, args: string[]): void => {
    commandRunning = true;
    const pty = terminal && { cols: terminal.cols, rows: terminal.rows };
    // As sshd: TERM from the pty request.
    const withTerm = terminal ? { ...env, TERM: terminal.term } : env;
    running = deps.processes.start(vm, args, { env: withTerm, pty });
    if (pty && running.stdin) ptyInput = new PtyInput(running.stdin);
    attach(
      channel,
      running,
      () => {
        commandRunning = false;
        releaseIfDone();
      },
      ptyInput,
    );
  };

  session.on("env", (accept, _reject, info) => {
    env[info.key] = info.val;
    accept?.();
  });
  session.on("pty", (accept, reject, info) => {
    if (running) {
      reject?.();
      return;
    }
    terminal = info;
    accept?.();
  });
  session.on("x11", (_accept, reject) => reject?.());
  session.on("auth-agent", (_accept, reject) => reject?.());
  session.on("window-change", (accept, reject, info) => {
    if (!terminal) {
      reject?.();
      return;
    }
    terminal = { ...terminal, cols: info.cols, rows: info.rows };
    ptyInput?.resize(info.cols, info.rows);
    accept?.();
  });
  session.on("signal", (accept, reject, info) => {
    const name = `SIG${info.name}`;
    if (!running || !isSignalName(name)) {
      reject?.();
      return;
    }
    if (ptyInput) ptyInput.signal(constants.signals[name]);
    else signalGroup(running, name);
    accept?.();
  });
  // Like sshd: `$SHELL -c <command>`, in the VM's home, as a process group of its own.
  session.on("exec", (accept, _reject, info) => start(accept(), ["-c", info.command]));
  // With a pty, a login shell, which the terminal makes interactive.
  session.on("shell", (accept) => start(accept(), terminal ? ["-l"] : []));
  // No `sftp` listener: ssh2 then hands the subsystem over as a plain channel, and the
  // emulator speaks SFTP itself (see sftp-codec.ts for why).
  session.on("subsystem", (accept, reject, info) => {
    if (info.name !== "sftp") {
      reject?.();
      return;
    }
    serveSftp(accept(), {
      workspace: deps.store.workspace(vm),
      faults: deps.faults,
      onIdleClose: () => {
        sessionClosed = true;
        releaseIfDone();
      },
    });
  });
}
