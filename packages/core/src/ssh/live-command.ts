import { randomBytes } from "node:crypto";
import type { ClientChannel } from "ssh2";
import type { AgentSession } from "../agent/agent-session.js";
import { AgentUnavailable } from "../agent/agent-transport.js";
import { FieldReader, MAX_PAYLOAD_BYTES, Reply, Request } from "../agent/protocol.js";
import { invalidArgument, SandboxError } from "../errors.js";
import { checkCommand, checkCommandLineBytes, checkEnv, checkRemotePath } from "../validate.js";
import { ConnectionGone, openExec } from "./channels.js";
import { deferred } from "./deferred.js";
import type { ExecContext } from "./exec.js";
import { MarkerStripper, type ShellIdentity } from "./output.js";
import { buildKillCommand, buildRemoteCommand, type KillTarget } from "./remote-command.js";

/** After a kill, how long the server may take to close the channel before it is closed from here. */
const KILL_GRACE_MS = 5_000;
/** Bytes per INPUT frame: well under the frame limit, big enough that the per-frame cost is noise. */
const INPUT_CHUNK_BYTES = Math.min(256 * 1024, MAX_PAYLOAD_BYTES);

/** Options for {@link startLiveCommand}. */
export interface LiveCommandOptions {
  /** Absolute directory to run in. @default the login directory */
  cwd?: string;
  /** Extra environment variables (names are shell identifiers, values quoted). @default none */
  env?: Record<string, string>;
  /** Run in a login shell (see `ExecOptions.loginShell`). @default false */
  loginShell?: boolean;
  /** The command's `EXEDEV_RUN` value, which kills find it by. @default a fresh `exedev-run-<hex>` */
  tag?: string;
  /** Raw stdout bytes as they arrive. */
  onStdout: (chunk: Buffer) => void;
  /** Raw stderr bytes as they arrive, the wrapper's pid marker already removed. */
  onStderr: (chunk: Buffer) => void;
}

/**
 * A command running on the VM with its stdin open: the building block of spawned processes,
 * the process host and shell sessions. It does not keep the Node process alive by itself.
 */
export interface LiveCommand {
  /** The command shell's pid (from the wrapper's marker); rejects when it never arrived. */
  readonly pid: Promise<number>;
  /** Its `EXEDEV_RUN` value. */
  readonly tag: string;
  /** Writes to its stdin; resolves once the transport took the bytes. Rejects with `closed` after {@link end} or the exit. */
  write(data: Buffer): Promise<void>;
  /** Closes its stdin (it reads end of file). Safe to call more than once. */
  end(): void;
  /** Its exit code (128 + n for signal n); undefined when the connection or the agent went first. */
  readonly exit: Promise<number | undefined>;
  /** Kills the remote tree (group, descendants, everything with its tag), as exec's deadline does. */
  kill(): void;
}

interface CheckedLive {
  command: string;
  cwd: string | undefined;
  env: Record<string, string> | undefined;
  loginShell: boolean;
  tag: string;
}

function checkLive(command: unknown, options: LiveCommandOptions): CheckedLive {
  if (typeof options !== "object" || options === null) throw invalidArgument("options must be an object.");
  if (options.loginShell !== undefined && typeof options.loginShell !== "boolean") {
    throw invalidArgument("loginShell must be a boolean.");
  }
  if (
    options.tag !== undefined &&
    (typeof options.tag !== "string" || !/^[A-Za-z0-9_-]{8,64}$/.test(options.tag))
  ) {
    throw invalidArgument("tag must be 8 to 64 letters, digits, '-' or '_'.");
  }
  if (typeof options.onStdout !== "function") throw invalidArgument("onStdout must be a function.");
  if (typeof options.onStderr !== "function") throw invalidArgument("onStderr must be a function.");
  return {
    command: checkCommand(command),
    cwd: options.cwd === undefined ? undefined : checkRemotePath(options.cwd, "cwd"),
    env: checkEnv(options.env),
    loginShell: options.loginShell ?? false,
    tag: options.tag ?? `exedev-run-${randomBytes(9).toString("hex")}`,
  };
}

const stdinClosed = (): SandboxError => new SandboxError("closed", "The command's stdin is closed.");

/**
 * Starts `command` with the same line, tag and kill semantics as `exec`, keeping its stdin open.
 * Resolves once it started (the channel is open / the agent's EXEC is sent). On the channel
 * transport it holds one channel slot for its whole life (see ChannelSlots.acquireLong); on the agent it is an EXEC with
 * stdin frames. Options are checked (`invalid_argument`) before any I/O.
 */
export async function startLiveCommand(
  context: ExecContext,
  command: string,
  options: LiveCommandOptions,
): Promise<LiveCommand> {
  const checked = checkLive(command, options);
  const line = buildRemoteCommand(checked.command, checked.cwd, checked.env, checked.tag, checked.loginShell);
  checkCommandLineBytes(line, context.commandLineLimit());
  const agent = context.agent;
  if (agent?.transport === "agent") {
    let session: AgentSession | undefined;
    try {
      session = await agent.session();
    } catch (error) {
      if (!(error instanceof AgentUnavailable)) throw error;
      agent.fallBack(error);
    }
    if (session) return startOnAgent(context, session, line, checked.tag, options);
  }
  return await startOnChannel(context, line, checked.tag, options);
}

async function startOnChannel(
  context: ExecContext,
  line: string,
  tag: string,
  options: LiveCommandOptions,
): Promise<LiveCommand> {
  const permit = await context.slots.acquireLong();
  let channel: ClientChannel;
  let exitCode: () => number | undefined;
  const client = await context.connection.get().catch((error: unknown) => {
    permit.release();
    throw error;
  });
  const isCurrent = (): boolean => context.connection.isCurrent(client);
  try {
    ({ channel, exitCode } = await openExec(
      client,
      isCurrent,
      line,
      undefined,
      context.slots.onWorkRefused(),
    ));
  } catch (error) {
    permit.release();
    if (error instanceof ConnectionGone) {
      // The request may have reached the server before the connection went.
      context.killer.owe({ tag });
      throw await context.connection.lostError("starting a command", client);
    }
    throw error;
  }
  permit.opened();

  const pid = deferred<number>();
  const exit = deferred<number | undefined>();
  let target: KillTarget = { tag };
  let killed = false;
  let closed = false;
  let ended = false;
  const timers: NodeJS.Timeout[] = [];

  const stripper = new MarkerStripper(
    (shell: ShellIdentity) => {
      target = { tag, pid: shell.pid, startTicks: shell.startTicks };
      pid.resolve(shell.pid);
      if (killed) context.killer.kill(target);
    },
    (chunk) => options.onStderr(chunk),
  );
  channel.on("data", (chunk: Buffer) => options.onStdout(chunk));
  channel.stderr.on("data", (chunk: Buffer) => stripper.push(chunk));
  channel.on("error", () => {
    // Reported through `close` without an exit status.
  });
  channel.once("close", () => {
    closed = true;
    for (const timer of timers) clearTimeout(timer);
    permit.release();
    stripper.end();
    pid.reject(new SandboxError("channel_failed", "The command ended before it reported its pid."));
    const code = exitCode();
    // Closed without a status and not by a kill of ours: the connection went and the command
    // may still run on the machine. It is killed once a connection is back.
    if (code === undefined && !killed && !isCurrent()) context.killer.owe(target);
    exit.resolve(code);
  });

  return {
    pid: pid.promise,
    tag,
    exit: exit.promise,
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        if (ended || closed) {
          reject(stdinClosed());
          return;
        }
        if (data.length === 0) {
          resolve();
          return;
        }
        channel.write(data, (error?: Error | null) => (error ? reject(stdinClosed()) : resolve()));
      }),
    end: () => {
      if (ended || closed) return;
      ended = true;
      channel.end();
    },
    kill: () => {
      if (killed || closed) return;
      killed = true;
      // Before the marker, the tag finds the command; the marker handler kills by pid too.
      context.killer.kill(target);
      const timer = setTimeout(() => channel.close(), KILL_GRACE_MS);
      // Cleanup of a command nobody waits for must not keep the process alive.
      timer.unref();
      timers.push(timer);
    },
  };
}

function startOnAgent(
  context: ExecContext,
  session: AgentSession,
  line: string,
  tag: string,
  options: LiveCommandOptions,
): LiveCommand {
  const pid = deferred<number>();
  const exit = deferred<number | undefined>();
  let done = false;
  let ended = false;
  let killed = false;
  let queue: Promise<void> = Promise.resolve();
  // The agent put the tag in the shell's environment; the marker only gives the pid.
  const stripper = new MarkerStripper(
    (shell) => pid.resolve(shell.pid),
    (chunk) => options.onStderr(chunk),
  );
  const finish = (code: number | undefined): void => {
    done = true;
    stripper.end();
    pid.reject(new SandboxError("channel_failed", "The command ended before it reported its pid."));
    exit.resolve(code);
  };
  const id = session.open({
    onFrame: (frame) => {
      if (frame.type === Reply.STDOUT) options.onStdout(frame.payload);
      else if (frame.type === Reply.STDERR) stripper.push(frame.payload);
      else if (frame.type === Reply.EXIT || frame.type === Reply.ERR) {
        session.finish(id);
        if (frame.type === Reply.ERR) {
          finish(undefined);
          return;
        }
        const reader = new FieldReader(frame.payload);
        const kind = reader.u32();
        const value = reader.u32();
        finish(kind === 0 ? value : 128 + value);
      }
    },
    onLost: () => {
      // The agent kills what it started when its channel closes; if it died instead, the
      // command may still run: kill it by its tag (now, or once a connection is back).
      if (context.connection.isCurrent(session.client)) context.killer.kill({ tag });
      else context.killer.owe({ tag });
      finish(undefined);
    },
  });
  session.send(Request.EXEC, id, [
    { str: line },
    { str: tag },
    { str: buildKillCommand([{ tag }]) },
    { u32: 1 },
  ]);
  return {
    pid: pid.promise,
    tag,
    exit: exit.promise,
    // One write at a time: a write that waits for the window must not let another's frames in
    // between its own (the host's frame stream would be cut apart).
    write: (data) => {
      if (ended || done) return Promise.reject(stdinClosed());
      const next = queue.then(() => writeNow(data));
      queue = next.catch(() => {});
      return next;
    },
    end: () => {
      if (ended || done) return;
      ended = true;
      void queue.then(() => session.send(Request.INPUT, id, []));
    },
    kill: () => {
      if (killed || done) return;
      killed = true;
      session.send(Request.KILL, id);
    },
  };
  async function writeNow(data: Buffer): Promise<void> {
    for (let offset = 0; offset < data.length; offset += INPUT_CHUNK_BYTES) {
      // An empty INPUT would close stdin, so chunks are never empty.
      if (done || !session.alive) throw stdinClosed();
      const chunk = data.subarray(offset, Math.min(data.length, offset + INPUT_CHUNK_BYTES));
      if (!session.send(Request.INPUT, id, [{ bytes: chunk }])) await session.drained();
    }
  }
}
