import type { ChildProcess } from "node:child_process";
import { constants } from "node:os";
import type { Writable } from "node:stream";
import type { ServerChannel, Session } from "ssh2";
import type { FaultState } from "./faults.js";
import { type ProcessRunner, signalGroup } from "./process-runner.js";
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

/** Sends the exit status (or signal) and closes the channel, after any output still queued. */
async function finish(
  channel: ServerChannel,
  code: number | null,
  signal: NodeJS.Signals | null,
): Promise<void> {
  await Promise.all([flushed(channel), flushed(channel.stderr)]);
  try {
    if (code !== null) channel.exit(code);
    else channel.exit(signal ?? "SIGKILL", false, "");
  } catch {
    // ssh2 knows only the signals RFC 4254 names; report others the shell's way.
    channel.exit(128 + (constants.signals[signal ?? "SIGKILL"] ?? 9));
  }
  channel.end();
}

/**
 * Wires a session's process to its channel as sshd does: stdin from the channel (its EOF
 * closes stdin), stdout and stderr kept apart, then the exit status. If the client closes the
 * channel first, the process is not killed, but its pipes close, so it gets SIGPIPE on its
 * next write, as under OpenSSH.
 */
function attach(channel: ServerChannel, child: ChildProcess): void {
  const { stdin, stdout, stderr } = child;
  if (!stdin || !stdout || !stderr) throw new Error("the child must have piped stdio");
  stdin.on("error", () => {});
  channel.pipe(stdin);
  // `end: false`: the exit status must go out before the channel ends.
  stdout.pipe(channel, { end: false });
  stderr.pipe(channel.stderr, { end: false });
  let closed = false;
  channel.on("close", () => {
    closed = true;
    stdout.destroy();
    stderr.destroy();
    stdin.destroy();
  });
  let done = false;
  child.on("error", (error: NodeJS.ErrnoException) => {
    if (done || closed) return;
    done = true;
    channel.stderr.write(`exedev-emulator: cannot start the command: ${error.code ?? error.message}\n`);
    void finish(channel, 127, null);
  });
  child.on("close", (code, signal) => {
    if (done || closed) return;
    done = true;
    void finish(channel, code, signal);
  });
}

/**
 * Serves one session channel of a logged-in VM user: `env`, `exec`, `shell` (commands read
 * from stdin, no terminal), `signal` and the `sftp` subsystem. Terminals (`pty`), X11, agent
 * forwarding and other subsystems are refused.
 */
export function serveSession(session: Session, vm: string, deps: SessionDeps): void {
  const env: Record<string, string> = {};
  let running: ChildProcess | undefined;

  const start = (channel: ServerChannel, args: string[]): void => {
    running = deps.processes.start(vm, args, { env });
    attach(channel, running);
  };

  session.on("env", (accept, _reject, info) => {
    env[info.key] = info.val;
    accept?.();
  });
  session.on("pty", (_accept, reject) => reject?.());
  session.on("x11", (_accept, reject) => reject?.());
  session.on("auth-agent", (_accept, reject) => reject?.());
  session.on("window-change", (_accept, reject) => reject?.());
  session.on("signal", (accept, reject, info) => {
    const name = `SIG${info.name}`;
    if (!running || !isSignalName(name)) {
      reject?.();
      return;
    }
    signalGroup(running, name);
    accept?.();
  });
  // Like sshd: `$SHELL -c <command>`, in the VM's home, as a process group of its own.
  session.on("exec", (accept, _reject, info) => start(accept(), ["-c", info.command]));
  session.on("shell", (accept) => start(accept(), []));
  // No `sftp` listener: ssh2 then hands the subsystem over as a plain channel, and the
  // emulator speaks SFTP itself (see sftp-codec.ts for why).
  session.on("subsystem", (accept, reject, info) => {
    if (info.name !== "sftp") {
      reject?.();
      return;
    }
    serveSftp(accept(), { workspace: deps.store.workspace(vm), faults: deps.faults });
  });
}
