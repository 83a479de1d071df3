import { invalidArgument, SandboxError } from "../errors.js";
import type { ExecOptions, ExecResult } from "../sandbox.js";
import { buildKillCommand, buildRemoteCommand } from "../ssh/remote-command.js";
import {
  checkCommand,
  checkDurationMs,
  checkEnv,
  checkPositiveInteger,
  checkRemotePath,
} from "../validate.js";
import { checkOptionalFunction } from "../validate-options.js";
import { decodeBase64, encodeBase64, randomHex } from "./base64.js";
import { buildExecBody, EMPTY_WORD, type Frame, MAX_BODY_BYTES } from "./frame.js";
import { httpsWriteFile } from "./https-files.js";
import { abortedError, type HttpsTransport, throwIfFailed } from "./https-transport.js";
import { OutputBuffer } from "./output-buffer.js";
import { buildKillScript, EXEC_SCRIPT } from "./scripts.js";

const DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 * 1024;
/** The most stdin bytes sent inline (base64 inside the start request); more goes as a file first. */
const INLINE_STDIN_BYTES = 24 * 1024;
/** Most bytes per stream in one response. */
const RESPONSE_CHUNK_BYTES = 4 * 1024 * 1024;
/** One tick of the VM-side wait loop. */
const TICK_MS = 50;
const DIR_PATH = /^\/[A-Za-z0-9._/-]+$/;

/** What an HTTPS exec needs from its sandbox. */
export interface HttpsExecContext {
  transport: HttpsTransport;
  /** How long one request waits on the VM for the command to end. */
  pollWaitMs: number;
  /** Keeps background work (kills after an abort) for `close()` to wait for. */
  track(work: Promise<unknown>): void;
}

function checkExec(command: unknown, options: ExecOptions) {
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
      stdin === undefined ? undefined : typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin,
    timeoutMs: checkDurationMs(options.timeoutMs, "timeoutMs"),
    maxOutputBytes:
      checkPositiveInteger(options.maxOutputBytes, "maxOutputBytes") ?? DEFAULT_MAX_OUTPUT_BYTES,
    loginShell: options.loginShell ?? false,
  };
}

/**
 * Runs one command over HTTPS: a start request launches it as a detached job and waits up to
 * `pollWaitMs` for it; further requests collect new output by offset until its exit status
 * arrives (so commands may run far past exe.dev's 30 s limit). See scripts.ts for the VM side.
 */
export async function runHttpsExec(
  context: HttpsExecContext,
  command: string,
  options: ExecOptions = {},
): Promise<ExecResult> {
  const checked = checkExec(command, options);
  const tag = `exedev-run-${randomHex(9)}`;
  const line = buildRemoteCommand(checked.command, checked.cwd, checked.env, tag, checked.loginShell, false);
  const lineWord = encodeBase64(new TextEncoder().encode(line));
  const inline = checked.stdin !== undefined && checked.stdin.length <= INLINE_STDIN_BYTES;
  let stdinWord =
    checked.stdin === undefined || checked.stdin.length === 0
      ? EMPTY_WORD
      : inline
        ? encodeBase64(checked.stdin)
        : undefined;
  // Checked before any I/O: the start request carries the command line (cwd and env too).
  const probe = buildExecBody("vm", EXEC_SCRIPT, [
    "m".repeat(39),
    "start",
    "-",
    lineWord,
    stdinWord ?? "%AAAA",
    tag,
  ]);
  if (probe.length + 2048 > MAX_BODY_BYTES) {
    throw invalidArgument(
      `The command line (command, cwd and env, quoted) needs a ${probe.length}-byte request; exe.dev takes at most ${MAX_BODY_BYTES} bytes per /exec request. Pass large input through stdin or a file instead.`,
      { bytes: probe.length, limitBytes: MAX_BODY_BYTES },
    );
  }
  const { signal } = options;
  if (signal?.aborted) throw abortedError(signal);
  const startedAt = Date.now();
  const deadline = checked.timeoutMs === undefined ? undefined : Date.now() + checked.timeoutMs;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  const stdout = new OutputBuffer(checked.maxOutputBytes, options.onStdout);
  const stderr = new OutputBuffer(checked.maxOutputBytes, options.onStderr);
  let started = false;
  let dir = EMPTY_WORD;

  // Until the VM reported the job's directory, the start request may still be on its way: the
  // kill then leaves a tombstone that stops the job from starting at all.
  const kill = () =>
    context.transport
      .run(buildKillScript(buildKillCommand([{ tag }])), [tag, dir === EMPTY_WORD ? "1" : "0"], "exec kill")
      .then(() => undefined);
  const finish = (exitCode: number, sizes: [number, number], timedOut: boolean): ExecResult => {
    stdout.end();
    stderr.end();
    const truncated = sizes[0] > stdout.kept || sizes[1] > stderr.kept;
    return {
      exitCode,
      stdout: stdout.text(truncated),
      stderr: stderr.text(truncated),
      timedOut,
      truncated,
      durationMs: Math.max(Date.now() - startedAt, Number.EPSILON),
    };
  };

  try {
    if (stdinWord === undefined && checked.stdin) {
      // Too big to ride along: written as a file first, moved into the job's directory at start.
      const stdinPath = `/tmp/.${tag}.stdin`;
      await httpsWriteFile(context.transport, stdinPath, checked.stdin, 0o600, stop.signal);
      stdinWord = `%${encodeBase64(new TextEncoder().encode(stdinPath))}`;
    }
    let exit: { code: number; sizes: [number, number] } | undefined;
    for (;;) {
      let waitMs = exit ? 0 : context.pollWaitMs;
      if (deadline !== undefined) waitMs = Math.min(waitMs, Math.max(0, deadline - Date.now()));
      const args = [
        started ? "poll" : "start",
        dir,
        started ? EMPTY_WORD : lineWord,
        started ? EMPTY_WORD : (stdinWord ?? EMPTY_WORD),
        tag,
        String(Math.ceil(waitMs / TICK_MS)),
        String(stdout.received),
        String(Math.min(stdout.wanted(), RESPONSE_CHUNK_BYTES)),
        String(stderr.received),
        String(Math.min(stderr.wanted(), RESPONSE_CHUNK_BYTES)),
        String(RESPONSE_CHUNK_BYTES),
      ];
      const wasStarted = started;
      started = true;
      let frames: Frame[];
      try {
        frames = await context.transport.run(EXEC_SCRIPT, args, "exec", stop.signal);
      } catch (error) {
        if (!wasStarted && !stop.signal.aborted) started = false;
        throw error;
      }
      throwIfFailed(frames, "exec");
      let cleaned = false;
      for (const frame of frames) {
        const [first = "", second = "0", third = "0"] = frame.fields;
        if (frame.kind === "DIR" && DIR_PATH.test(first)) dir = first;
        else if (frame.kind === "O") stdout.push(decodeBase64(frame.fields.join("")));
        else if (frame.kind === "E") stderr.push(decodeBase64(frame.fields.join("")));
        else if (frame.kind === "EXIT")
          exit = { code: Number(first), sizes: [Number(second), Number(third)] };
        else if (frame.kind === "RUN") exit = undefined;
        else if (frame.kind === "CLEAN") cleaned = true;
      }
      if (dir === EMPTY_WORD) throw new SandboxError("io_error", "The VM's answer to exec was incomplete.");
      if (exit && cleaned) return finish(exit.code, exit.sizes, false);
      if (!exit && deadline !== undefined && Date.now() >= deadline) {
        await kill();
        return finish(124, [stdout.received, stderr.received], true);
      }
    }
  } catch (error) {
    if (stop.signal.aborted) {
      // Rejects at once; the kill goes on in the background (close() waits for it).
      if (started) context.track(kill().catch(() => {}));
      throw abortedError(signal);
    }
    if (started) context.track(kill().catch(() => {}));
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
