import { randomBytes } from "node:crypto";
import { invalidArgument, SandboxError } from "../errors.js";
import type { ExecResult, SandboxShell, ShellOptions, ShellRunOptions } from "../sandbox.js";
import type { ExecContext } from "../ssh/exec.js";
import { type LiveCommand, startLiveCommand } from "../ssh/live-command.js";
import { OutputCollector } from "../ssh/output.js";
import { abortedError } from "../ssh/semaphore.js";
import { shellQuote } from "../ssh/shell-quote.js";
import {
  checkCommand,
  checkDurationMs,
  checkEnv,
  checkPositiveInteger,
  checkRemotePath,
} from "../validate.js";
import { checkOptionalBoolean, checkOptionalFunction, checkOptionsObject } from "../validate-options.js";
import { RunSplitter } from "./run-splitter.js";

/** Default cap on kept output per stream and run, as `exec`'s. */
const DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 * 1024;
/**
 * After a run's deadline or abort, how long its kill may take to bring the shell back to its
 * next line. A command the kill cannot reach (a loop in the shell itself, `while :; do :; done`,
 * has no process of its own) ends the session instead.
 */
const RUN_KILL_GRACE_MS = 5_000;
/** How long `close()` waits for the shell to leave on end of input before killing it. */
const CLOSE_GRACE_MS = 2_000;

const closedError = (): SandboxError =>
  new SandboxError("closed", "The shell session has ended; open a new one with openShell().");

/** Checks {@link ShellOptions} before any I/O. */
export function checkShellOptions(
  options: ShellOptions | undefined,
): Required<Pick<ShellOptions, "loginShell">> & Pick<ShellOptions, "cwd" | "env"> {
  const checked = checkOptionsObject(options, "openShell options");
  const result: Required<Pick<ShellOptions, "loginShell">> & Pick<ShellOptions, "cwd" | "env"> = {
    loginShell: checkOptionalBoolean(checked.loginShell, "loginShell") ?? false,
  };
  if (checked.cwd !== undefined) result.cwd = checkRemotePath(checked.cwd, "cwd");
  const env = checkEnv(checked.env);
  if (env !== undefined) result.env = env;
  return result;
}

interface CheckedRun {
  command: string;
  timeoutMs: number | undefined;
  maxOutputBytes: number;
  options: ShellRunOptions;
}

function checkRun(command: unknown, options: ShellRunOptions | undefined): CheckedRun {
  const checked = checkOptionsObject(options, "run options");
  if (checked.signal !== undefined && !(checked.signal instanceof AbortSignal)) {
    throw invalidArgument("signal must be an AbortSignal.");
  }
  checkOptionalFunction(checked.onStdout, "onStdout");
  checkOptionalFunction(checked.onStderr, "onStderr");
  return {
    command: checkCommand(command),
    timeoutMs: checkDurationMs(checked.timeoutMs, "timeoutMs"),
    maxOutputBytes:
      checkPositiveInteger(checked.maxOutputBytes, "maxOutputBytes") ?? DEFAULT_MAX_OUTPUT_BYTES,
    options: checked,
  };
}

/**
 * What the session's shell reads for one run. `command eval` runs the command in the shell
 * itself (so `cd`, `export`, variables and functions stay), and `command` keeps a syntax error
 * from ending a POSIX shell (dash, `bash --posix`) as a failed special builtin would. The command
 * reads `/dev/null`, not the session's stdin, which carries the runs that follow. The run's own
 * `EXEDEV_RUN` tag is exported first: every process the command starts inherits it, so a
 * deadline kills exactly them (the shell's own environment still holds the session's tag).
 * Then the end markers: the exit status on stdout, an empty one on stderr, so that all of the
 * run's output on both streams has arrived when the run resolves.
 */
function runScript(command: string, marker: string, runTag: string): string {
  return [
    `export EXEDEV_RUN=${runTag}`,
    `command eval ${shellQuote(command)} </dev/null`,
    `printf '\\036%s:%s\\036' ${marker} "$?"; printf '\\036%s:\\036' ${marker} >&2`,
    "",
  ].join("\n");
}

/**
 * A persistent shell (see {@link SandboxShell}): one shell process reading commands on its stdin,
 * over one live command on either transport. Runs take turns; each is cut out of the shell's
 * output by its own random end marker.
 */
export class ShellSession implements SandboxShell {
  readonly #context: ExecContext;
  readonly #live: LiveCommand;
  readonly #stdout: RunSplitter;
  readonly #stderr: RunSplitter;
  #turn: Promise<void> = Promise.resolve();
  #ended: { exitCode: number | undefined } | undefined;
  /** Settles the run in progress when the shell ends. */
  #onEnd: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  /** Keeps the Node process alive while a run is pending, as every pending call does. */
  readonly #held: Held;
  /** Resolves when the shell has ended. */
  readonly ended: Promise<void>;

  constructor(context: ExecContext, live: LiveCommand, stdout: RunSplitter, stderr: RunSplitter, held: Held) {
    this.#context = context;
    this.#held = held;
    this.#live = live;
    this.#stdout = stdout;
    this.#stderr = stderr;
    this.ended = live.exit.then((exitCode) => {
      this.#ended = { exitCode };
      this.#stdout.abandon();
      this.#stderr.abandon();
      this.#onEnd?.();
    });
  }

  run(command: string, options?: ShellRunOptions): Promise<ExecResult> {
    let checked: CheckedRun;
    try {
      checked = checkRun(command, options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#ended || this.#closing) return Promise.reject(closedError());
    const signal = checked.options.signal;
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    return this.#held(
      () =>
        new Promise<ExecResult>((resolve, reject) => {
          // The next run waits for this one to be over in the shell, even when its caller was
          // answered earlier (a deadline or an abort answers at once, as `exec` does).
          this.#turn = this.#turn.then(() => this.#runNow(checked, resolve, reject));
        }),
    );
  }

  /** Runs one command; resolves when the shell is ready for the next (the caller may have had its answer before). */
  #runNow(
    { command, timeoutMs, maxOutputBytes, options }: CheckedRun,
    resolve: (result: ExecResult) => void,
    reject: (error: unknown) => void,
  ): Promise<void> {
    const { signal } = options;
    if (this.#ended || this.#closing) {
      reject(closedError());
      return Promise.resolve();
    }
    if (signal?.aborted) {
      reject(abortedError(signal));
      return Promise.resolve();
    }
    const startedAt = performance.now();
    const marker = randomBytes(12).toString("hex");
    const runTag = `exedev-run-${randomBytes(9).toString("hex")}`;
    const stdout = new OutputCollector(maxOutputBytes, options.onStdout);
    const stderr = new OutputCollector(maxOutputBytes, options.onStderr);
    let answered = false;
    const answer = (exitCode: number, timedOut: boolean): void => {
      if (answered) return;
      answered = true;
      stdout.end();
      stderr.end();
      resolve({
        exitCode,
        stdout: stdout.text(),
        stderr: stderr.text(),
        timedOut,
        truncated: stdout.truncated || stderr.truncated,
        durationMs: performance.now() - startedAt,
      });
    };
    const fail = (error: unknown): void => {
      if (answered) return;
      answered = true;
      reject(error);
    };

    return new Promise<void>((over) => {
      let status: string | undefined;
      let stderrDone = false;
      let cancelled = false;
      let graceTimer: NodeJS.Timeout | undefined;
      const end = (): void => {
        clearTimeout(deadline);
        clearTimeout(graceTimer);
        signal?.removeEventListener("abort", onAbort);
        this.#onEnd = undefined;
        over();
      };
      const maybeDone = (): void => {
        if (status === undefined || !stderrDone) return;
        answer(Number(status), false);
        end();
      };
      const cancel = (settle: () => void): void => {
        if (cancelled) return;
        cancelled = true;
        stdout.detach();
        stderr.detach();
        settle();
        // Only the run's processes: the shell carries the session's tag, not this one.
        this.#context.killer.kill({ tag: runTag });
        graceTimer = setTimeout(() => this.#live.kill(), RUN_KILL_GRACE_MS);
        graceTimer.unref();
      };
      const deadline =
        timeoutMs === undefined ? undefined : setTimeout(() => cancel(() => answer(124, true)), timeoutMs);
      const onAbort = (): void => cancel(() => fail(abortedError(signal)));
      signal?.addEventListener("abort", onAbort, { once: true });

      this.#stdout.expect(
        marker,
        (chunk) => stdout.push(chunk),
        (payload) => {
          status = payload;
          maybeDone();
        },
      );
      this.#stderr.expect(
        marker,
        (chunk) => stderr.push(chunk),
        () => {
          stderrDone = true;
          maybeDone();
        },
      );
      this.#onEnd = () => {
        const exitCode = this.#ended?.exitCode;
        if (exitCode === undefined && !cancelled && !this.#closing) {
          fail(
            new SandboxError(
              "connection_failed",
              "The connection was lost while the shell session ran a command.",
            ),
          );
        } else if (this.#closing && !cancelled) {
          fail(closedError());
        } else {
          // The command ended the shell (`exit 3`), or a kill had to take the whole session.
          answer(exitCode ?? 137, false);
        }
        end();
      };
      this.#live.write(Buffer.from(runScript(command, marker, runTag))).catch(() => {
        // A failed write means the session is going; its end settles the run.
      });
    });
  }

  /** Ends the session at once (its sandbox is closing): a run in progress rejects with `closed`. */
  abandon(): void {
    if (this.#ended) return;
    this.#closing ??= this.ended;
    this.#live.end();
    this.#live.kill();
  }

  close(): Promise<void> {
    // Held: a script that ends with `await shell.close()` must not exit before the shell did.
    this.#closing ??= this.#held(async () => {
      if (this.#ended) return;
      this.#live.end();
      const timer = setTimeout(() => this.#live.kill(), CLOSE_GRACE_MS);
      timer.unref();
      await this.#live.exit;
      clearTimeout(timer);
    });
    return this.#closing;
  }
}

/** Runs `work` as pending work of the sandbox (it keeps the Node process alive meanwhile). */
export type Held = <T>(work: () => Promise<T>) => Promise<T>;

/** Opens a persistent shell session; see {@link Sandbox.openShell}. */
export async function openShellSession(
  context: ExecContext,
  options: ShellOptions | undefined,
  held: Held,
): Promise<ShellSession> {
  const checked = checkShellOptions(options);
  const stdout = new RunSplitter();
  const stderr = new RunSplitter();
  // `exec` keeps the wrapper's pid and tag: the shell reads its commands from the live stdin.
  const live = await startLiveCommand(
    context,
    `exec "\${SHELL:-/bin/sh}"${checked.loginShell ? " -l" : ""}`,
    {
      ...(checked.cwd === undefined ? {} : { cwd: checked.cwd }),
      ...(checked.env === undefined ? {} : { env: checked.env }),
      onStdout: (chunk) => stdout.push(chunk),
      onStderr: (chunk) => stderr.push(chunk),
    },
  );
  const session = new ShellSession(context, live, stdout, stderr, held);
  // A first, empty run: the session is ready once its shell answers, and what the shell printed
  // while starting (a login shell's profile, a motd) is not the first command's output.
  let ready: ExecResult;
  try {
    ready = await session.run(":");
  } catch (error) {
    live.kill();
    throw error;
  }
  if (ready.exitCode !== 0) {
    live.kill();
    // E.g. `cd: /missing: No such file or directory` from the wrapper, as `exec` reports it.
    throw new SandboxError(
      "channel_failed",
      `The shell session did not start (exit ${ready.exitCode}): ${ready.stderr.trim().slice(-500)}`,
      {
        details: { exitCode: ready.exitCode },
      },
    );
  }
  return session;
}
