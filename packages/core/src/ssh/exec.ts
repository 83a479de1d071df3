import { invalidArgument, SandboxError } from "../errors.js";
import type { ExecOptions, ExecResult } from "../sandbox.js";
import {
  checkCommand,
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
import { abortedError } from "./semaphore.js";
import { shellQuote } from "./shell-quote.js";

/** Default cap on kept output per stream. */
const DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 * 1024;
/** After a kill, how long to wait for the server to close the channel before closing it ourselves. */
const KILL_GRACE_MS = 5_000;

/** What `exec` needs from its sandbox. */
export interface ExecContext {
  connection: SshConnection;
  slots: ChannelSlots;
  killer: ProcessKiller;
}

interface CheckedExec {
  command: string;
  cwd: string | undefined;
  env: Record<string, string> | undefined;
  stdin: Buffer | undefined;
  timeoutMs: number | undefined;
  maxOutputBytes: number;
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
  };
}

/**
 * The line sshd hands to the login shell. It first prints the shell's pid (= its process group,
 * since sshd makes each exec a session leader) as a marker on stderr, so the group can be killed
 * later; then changes directory, exports the environment and `eval`s the command. `eval` keeps
 * the login shell's own semantics, and a syntax error in the command still leaves the marker
 * printed. The leading space stops a command that starts with "-" being read as an option.
 */
export function buildRemoteCommand(command: string, cwd?: string, env?: Record<string, string>): string {
  const parts = [`printf '\\036EXEDEV_PGID=%s\\036' "$$" >&2`];
  if (cwd !== undefined) parts.push(`cd -- ${shellQuote(cwd)} || exit 1`);
  const assignments = Object.entries(env ?? {}).map(([name, value]) => `${name}=${shellQuote(value)}`);
  if (assignments.length > 0) parts.push(`export ${assignments.join(" ")}`);
  parts.push(`eval ${shellQuote(` ${command}`)}`);
  return parts.join("; ");
}

/** Runs one command; see {@link Sandbox.exec}. */
export async function runExec(
  context: ExecContext,
  command: string,
  options: ExecOptions = {},
): Promise<ExecResult> {
  const checked = checkExec(command, options);
  const { signal } = options;
  if (signal?.aborted) throw abortedError(signal);
  const startedAt = performance.now();

  // One controller for "stop waiting": the deadline and the caller's abort both trip it.
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

  const stdout = new OutputCollector(checked.maxOutputBytes, options.onStdout);
  const stderr = new OutputCollector(checked.maxOutputBytes, options.onStderr);
  const finish = (exitCode: number): ExecResult => ({
    exitCode,
    stdout: stdout.text(),
    stderr: stderr.text(),
    timedOut: cancelReason === "timeout",
    truncated: stdout.truncated || stderr.truncated,
    durationMs: performance.now() - startedAt,
  });

  let release: (() => void) | undefined;
  try {
    try {
      release = await context.slots.work.acquire(stop.signal);
    } catch (error) {
      if (cancelReason === "timeout") return finish(124);
      if (cancelReason === "abort") throw abortedError(signal);
      throw error;
    }
    const client = await context.connection.get();
    let opened: ExecChannel;
    try {
      // The open is not abandoned on cancel: a command may already be starting, so it is
      // opened, then killed like any other.
      opened = await openExec(
        client,
        () => context.connection.isCurrent(client),
        buildRemoteCommand(checked.command, checked.cwd, checked.env),
      );
    } catch (error) {
      if (error instanceof ConnectionGone) throw await context.connection.lostError("exec", client);
      throw error;
    }
    const outcome = await runOnChannel(context, opened, checked, stdout, stderr, stop.signal);
    if (cancelReason === "abort") throw abortedError(signal);
    if (cancelReason === "timeout") return finish(124);
    if (outcome.exitCode !== undefined) return finish(outcome.exitCode);
    if (!context.connection.isCurrent(client)) throw await context.connection.lostError("exec", client);
    throw new SandboxError(
      "channel_failed",
      "The server closed the command's channel without an exit status.",
    );
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    release?.();
  }
}

interface ChannelOutcome {
  exitCode: number | undefined;
}

function runOnChannel(
  context: ExecContext,
  { channel, exitCode }: ExecChannel,
  checked: CheckedExec,
  stdout: OutputCollector,
  stderr: OutputCollector,
  stop: AbortSignal,
): Promise<ChannelOutcome> {
  return new Promise<ChannelOutcome>((resolve) => {
    let pgid: number | undefined;
    let killRequested = false;
    let graceTimer: NodeJS.Timeout | undefined;

    const kill = (): void => {
      if (pgid === undefined || killRequested) return;
      killRequested = true;
      void context.killer.kill(pgid);
    };
    const onStop = (): void => {
      kill(); // if the pid is not known yet, the marker handler kills on arrival
      graceTimer = setTimeout(() => channel.close(), KILL_GRACE_MS);
      graceTimer.unref();
    };

    const stripper = new MarkerStripper(
      (group) => {
        pgid = group;
        if (stop.aborted) kill();
      },
      (chunk) => stderr.push(chunk),
    );
    channel.on("data", (chunk: Buffer) => stdout.push(chunk));
    channel.stderr.on("data", (chunk: Buffer) => stripper.push(chunk));
    channel.on("error", () => {
      // Reported through `close` without an exit status.
    });
    channel.once("close", () => {
      clearTimeout(graceTimer);
      stop.removeEventListener("abort", onStop);
      stripper.end();
      stdout.end();
      stderr.end();
      resolve({ exitCode: exitCode() });
    });

    if (stop.aborted) onStop();
    else stop.addEventListener("abort", onStop, { once: true });
    channel.end(checked.stdin);
  });
}
