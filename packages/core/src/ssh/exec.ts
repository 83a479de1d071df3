import { randomBytes } from "node:crypto";
import { runOnAgent } from "../agent/agent-exec.js";
import type { AgentTransport } from "../agent/agent-transport.js";
import { invalidArgument, SandboxError } from "../errors.js";
import type { ExecOptions, ExecResult } from "../sandbox.js";
import {
  checkCommand,
  checkCommandLineBytes,
  checkDurationMs,
  checkEnv,
  checkPositiveInteger,
  checkRemotePath,
} from "../validate.js";
import { checkOptionalFunction } from "../validate-options.js";
import { type ChannelSlots, ConnectionGone, type ExecChannel, openExec } from "./channels.js";
import type { SshConnection } from "./connection.js";
import { MarkerStripper, OutputCollector } from "./output.js";
import type { ProcessKiller } from "./process-killer.js";
import { buildRemoteCommand, type KillTarget } from "./remote-command.js";
import { abortedError } from "./semaphore.js";

/** Whether commands run in a login shell when `ExecOptions.loginShell` is not given (see its docs). */
const DEFAULT_LOGIN_SHELL = false;
/** Default cap on kept output per stream. */
const DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 * 1024;
/** After a deadline or abort, how long to wait for the server to close the channel before closing it ourselves. */
const KILL_GRACE_MS = 5_000;

/** What `exec` needs from its sandbox. */
export interface ExecContext {
  connection: SshConnection;
  slots: ChannelSlots;
  killer: ProcessKiller;
  /** The longest command line this server takes, in bytes (see remote-command.ts). */
  commandLineLimit: () => number;
  /** The in-VM agent, when the sandbox may use it; commands then run there. */
  agent?: AgentTransport;
}

/** An exec call's options, checked. */
export interface CheckedExec {
  command: string;
  cwd: string | undefined;
  env: Record<string, string> | undefined;
  stdin: Buffer | undefined;
  timeoutMs: number | undefined;
  maxOutputBytes: number;
  loginShell: boolean;
}

function checkExec(command: unknown, options: ExecOptions): CheckedExec {
  if (typeof options !== "object" || options === null)
    throw invalidArgument("exec options must be an object.");
  const { stdin } = options;
  if (stdin !== undefined && typeof stdin !== "string" && !(stdin instanceof Uint8Array)) {
    throw invalidArgument("stdin must be a string or a Uint8Array.");
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalidArgument("signal must be an AbortSignal.");
  }
  if (options.loginShell !== undefined && typeof options.loginShell !== "boolean") {
    throw invalidArgument("loginShell must be a boolean.");
  }
  checkOptionalFunction(options.onStdout, "onStdout");
  checkOptionalFunction(options.onStderr, "onStderr");
  return {
    command: checkCommand(command),
    cwd: options.cwd === undefined ? undefined : checkRemotePath(options.cwd, "cwd"),
    env: checkEnv(options.env),
    stdin:
      stdin === undefined ? undefined : typeof stdin === "string" ? Buffer.from(stdin) : Buffer.from(stdin),
    timeoutMs: checkDurationMs(options.timeoutMs, "timeoutMs"),
    maxOutputBytes:
      checkPositiveInteger(options.maxOutputBytes, "maxOutputBytes") ?? DEFAULT_MAX_OUTPUT_BYTES,
    loginShell: options.loginShell ?? DEFAULT_LOGIN_SHELL,
  };
}

/** Runs one command; see {@link Sandbox.exec}. */
export async function runExec(
  context: ExecContext,
  command: string,
  options: ExecOptions = {},
): Promise<ExecResult> {
  const checked = checkExec(command, options);
  const tag = `exedev-run-${randomBytes(9).toString("hex")}`;
  const line = buildRemoteCommand(checked.command, checked.cwd, checked.env, tag, checked.loginShell);
  checkCommandLineBytes(line, context.commandLineLimit());
  const { signal } = options;
  if (signal?.aborted) throw abortedError(signal);
  const startedAt = performance.now();

  // One controller for "stop waiting": the deadline and the caller's abort both trip it. The
  // call settles the moment it trips; the kill and the channel's cleanup go on in the background.
  const stop = new AbortController();
  let cancelReason: "timeout" | "abort" | undefined;
  const cancel = (reason: "timeout" | "abort"): void => {
    if (cancelReason) return;
    cancelReason = reason;
    stop.abort();
  };
  const timer =
    checked.timeoutMs === undefined
      ? undefined
      : setTimeout(() => cancel("timeout"), Math.max(0, checked.timeoutMs));
  const onAbort = (): void => cancel("abort");
  signal?.addEventListener("abort", onAbort, { once: true });
  const stopped = new Promise<undefined>((resolve) =>
    stop.signal.addEventListener("abort", () => resolve(undefined), { once: true }),
  );

  const stdout = new OutputCollector(checked.maxOutputBytes, options.onStdout);
  const stderr = new OutputCollector(checked.maxOutputBytes, options.onStderr);
  const finish = (exitCode: number): ExecResult => ({
    exitCode,
    stdout: stdout.text(),
    stderr: stderr.text(),
    timedOut: exitCode === 124 && cancelReason === "timeout",
    truncated: stdout.truncated || stderr.truncated,
    durationMs: performance.now() - startedAt,
  });

  const channels = (): Promise<ChannelOutcome> =>
    runCommand(context, line, tag, checked, stdout, stderr, stop.signal);
  const work =
    context.agent?.transport === "agent"
      ? runOnAgent(
          context.agent,
          context,
          { line, tag, checked, stdout, stderr, stop: stop.signal },
          channels,
        )
      : channels();
  // Once the call has settled, a late failure of the abandoned work is nobody's business.
  work.catch(() => {});
  try {
    const outcome = await Promise.race([work, stopped]);
    if (outcome !== undefined) {
      if (outcome.exitCode !== undefined) return finish(outcome.exitCode);
      throw new SandboxError(
        "channel_failed",
        "The server closed the command's channel without an exit status.",
      );
    }
    if (cancelReason === "abort") throw abortedError(signal);
    return finish(124);
  } finally {
    stdout.detach();
    stderr.detach();
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** How a started command ended: its exit status, or undefined when its channel (or agent) went first. */
export interface ChannelOutcome {
  exitCode: number | undefined;
}

/**
 * Everything from taking a channel slot to giving it back. Runs on after the call settled on a
 * deadline or abort: a command that was started is killed, and its slot is freed only when its
 * channel is closed, so the server's session count stays right.
 */
async function runCommand(
  context: ExecContext,
  line: string,
  tag: string,
  checked: CheckedExec,
  stdout: OutputCollector,
  stderr: OutputCollector,
  stop: AbortSignal,
): Promise<ChannelOutcome> {
  const permit = await context.slots.acquireWork(stop);
  let handedOver = false;
  try {
    const client = await context.connection.get();
    if (stop.aborted) return { exitCode: undefined }; // nothing was started
    let opened: ExecChannel;
    try {
      // The open is not abandoned on cancel: a command may already be starting, so it is
      // opened, then killed like any other.
      opened = await openExec(
        client,
        () => context.connection.isCurrent(client),
        line,
        undefined,
        context.slots.onWorkRefused(stop),
      );
    } catch (error) {
      if (error instanceof ConnectionGone) {
        // The request may have reached the server before the connection went.
        context.killer.owe({ tag });
        throw await context.connection.lostError("exec", client);
      }
      throw error;
    }
    permit.opened();
    handedOver = true;
    const outcome = await runOnChannel(
      context,
      opened,
      () => context.connection.isCurrent(client),
      tag,
      checked,
      stdout,
      stderr,
      stop,
      permit.release,
    );
    if (outcome.exitCode === undefined && !context.connection.isCurrent(client)) {
      throw await context.connection.lostError("exec", client);
    }
    return outcome;
  } finally {
    if (!handedOver) permit.release();
  }
}

function runOnChannel(
  context: ExecContext,
  { channel, exitCode }: ExecChannel,
  isCurrent: () => boolean,
  tag: string,
  checked: CheckedExec,
  stdout: OutputCollector,
  stderr: OutputCollector,
  stop: AbortSignal,
  release: () => void,
): Promise<ChannelOutcome> {
  return new Promise<ChannelOutcome>((resolve) => {
    let target: KillTarget = { tag };
    const timers: NodeJS.Timeout[] = [];
    const later = (ms: number, run: () => void): void => {
      const timer = setTimeout(run, ms);
      // Cleanup of a call that already returned must not keep the process alive.
      timer.unref();
      timers.push(timer);
    };

    const onStop = (): void => {
      // Before the marker, the tag finds the command; the marker handler kills by pid too.
      context.killer.kill(target);
      later(KILL_GRACE_MS, () => channel.close());
      // A server that never confirms the close must not hold the slot for ever.
      later(2 * KILL_GRACE_MS, release);
    };

    const stripper = new MarkerStripper(
      (shell) => {
        target = { tag, pid: shell.pid, startTicks: shell.startTicks };
        if (stop.aborted) context.killer.kill(target);
      },
      (chunk) => stderr.push(chunk),
    );
    channel.on("data", (chunk: Buffer) => stdout.push(chunk));
    channel.stderr.on("data", (chunk: Buffer) => stripper.push(chunk));
    channel.on("error", () => {
      // Reported through `close` without an exit status.
    });
    channel.once("close", () => {
      for (const timer of timers) clearTimeout(timer);
      stop.removeEventListener("abort", onStop);
      release();
      stripper.end();
      stdout.end();
      stderr.end();
      const code = exitCode();
      // Closed without a status and not by a kill of ours: the connection went and the command
      // may still run on the machine. It is killed once a connection is back.
      if (code === undefined && !stop.aborted && !isCurrent()) context.killer.owe(target);
      resolve({ exitCode: code });
    });

    if (stop.aborted) onStop();
    else stop.addEventListener("abort", onStop, { once: true });
    channel.end(checked.stdin);
  });
}
