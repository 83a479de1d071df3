import { randomBytes } from "node:crypto";
import { FieldReader } from "../agent/protocol.js";
import { invalidArgument } from "../errors.js";
import type { ProcessInfo, SandboxProcess, SpawnOptions } from "../sandbox.js";
import { buildRemoteCommand, MAX_COMMAND_LINE_BYTES } from "../ssh/remote-command.js";
import { abortedError } from "../ssh/semaphore.js";
import {
  checkCommand,
  checkCommandLineBytes,
  checkDurationMs,
  checkEnv,
  checkPositiveInteger,
  checkRemotePath,
} from "../validate.js";
import {
  exitCodeOf,
  HostReply,
  HostRequest,
  PROCESS_ID_PATTERN,
  ProcessFlag,
  SPAWN_DETACHED,
} from "./host-protocol.js";
import type { EarlyFollow, ProcessHost } from "./process-host.js";
import { HostedProcess, isDetached, processError } from "./sandbox-process.js";

/** Default bound on what `output()` and `wait()` return per stream. */
const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
/** The host takes a u32 deadline. */
const MAX_TIMEOUT_MS = 0xffffffff;

/** What spawning needs from its sandbox. */
export interface ProcessContext {
  host: ProcessHost;
  /** Keeps the Node process alive while a call waits (see SshConnection.hold). */
  hold: () => () => void;
}

interface CheckedSpawn {
  command: string;
  cwd: string | undefined;
  env: Record<string, string> | undefined;
  loginShell: boolean;
  maxOutputBytes: number;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  detached: boolean;
}

/** Checks `spawn`'s arguments (before any I/O). */
export function checkSpawn(command: unknown, options: SpawnOptions | undefined): CheckedSpawn {
  const given = options ?? {};
  if (typeof given !== "object" || given === null) throw invalidArgument("spawn options must be an object.");
  for (const name of ["loginShell", "detached"] as const) {
    if (given[name] !== undefined && typeof given[name] !== "boolean")
      throw invalidArgument(`${name} must be a boolean.`);
  }
  if (given.signal !== undefined && !(given.signal instanceof AbortSignal)) {
    throw invalidArgument("signal must be an AbortSignal.");
  }
  const timeoutMs = checkDurationMs(given.timeoutMs, "timeoutMs");
  if (timeoutMs !== undefined && timeoutMs > MAX_TIMEOUT_MS) {
    throw invalidArgument(`timeoutMs must be at most ${MAX_TIMEOUT_MS}.`);
  }
  return {
    command: checkCommand(command),
    cwd: given.cwd === undefined ? undefined : checkRemotePath(given.cwd, "cwd"),
    env: checkEnv(given.env),
    loginShell: given.loginShell ?? false,
    maxOutputBytes: checkPositiveInteger(given.maxOutputBytes, "maxOutputBytes") ?? DEFAULT_MAX_OUTPUT_BYTES,
    timeoutMs,
    signal: given.signal,
    detached: given.detached ?? false,
  };
}

/** See {@link Sandbox.spawn}. Arguments are checked by the caller ({@link checkSpawn}). */
export async function spawnProcess(context: ProcessContext, checked: CheckedSpawn): Promise<SandboxProcess> {
  const { signal } = checked;
  if (signal?.aborted) throw abortedError(signal);
  const link = await context.host.link();
  if (signal?.aborted) throw abortedError(signal);
  const id = `p-${randomBytes(12).toString("hex")}`;
  const tag = checked.detached ? `exedev-proc-${id}` : `${link.tag}.${id}`;
  const line = buildRemoteCommand(checked.command, checked.cwd, checked.env, tag, checked.loginShell, false);
  // The keeper hands the line to the shell as one argument: Linux's bound on one argument holds.
  checkCommandLineBytes(line, MAX_COMMAND_LINE_BYTES);
  let started: FieldReader;
  let early: EarlyFollow | undefined;
  try {
    const spawning = link.call(
      HostRequest.SPAWN,
      [
        { str: id },
        { str: checked.command },
        { str: line },
        { u32: checked.detached ? SPAWN_DETACHED : 0 },
        { u32: checked.timeoutMs === undefined ? 0 : Math.max(1, Math.round(checked.timeoutMs)) },
      ],
      undefined,
      HostReply.STARTED,
    );
    // Right behind the SPAWN: the first output then takes one round trip, not two.
    early = link.followEarly(id);
    started = await spawning;
  } catch (error) {
    early?.drop();
    throw processError(error, "starting the process");
  }
  const process = new HostedProcess(
    context.host,
    {
      id,
      pid: started.u32(),
      command: checked.command,
      detached: checked.detached,
      startedAtMs: started.u64(),
    },
    checked.maxOutputBytes,
    context.hold,
  );
  process.follow(link, undefined, undefined, early);
  if (signal && !checked.detached) {
    // Once started, an abort kills a process that is not detached (as exec's abort does).
    const onAbort = (): void => void process.kill().catch(() => {});
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener("abort", onAbort, { once: true });
      void process.wait().then(
        () => signal.removeEventListener("abort", onAbort),
        () => signal.removeEventListener("abort", onAbort),
      );
    }
  }
  if (signal?.aborted) throw abortedError(signal);
  return process;
}

/** See {@link Sandbox.attachProcess}. The id is checked by the caller ({@link checkProcessId}). */
export async function attachProcess(context: ProcessContext, id: string): Promise<SandboxProcess> {
  const link = await context.host.link();
  return await new Promise<SandboxProcess>((resolve, reject) => {
    let process: HostedProcess | undefined;
    const handle = new HostedProcess(
      context.host,
      { id, pid: 0, command: "", detached: false, startedAtMs: 0 },
      DEFAULT_MAX_OUTPUT_BYTES,
      context.hold,
    );
    handle.follow(
      link,
      (info) => {
        handle.setFacts({
          pid: info.u32(),
          detached: isDetached(info.u32()),
          startedAtMs: info.u64(),
          command: info.str(),
        });
        process = handle;
        resolve(handle);
      },
      (error) => {
        if (!process) reject(processError(error, "attaching to the process"));
      },
    );
  });
}

/** See {@link Sandbox.listProcesses}. */
export async function listProcesses(context: ProcessContext): Promise<ProcessInfo[]> {
  const link = await context.host.link();
  const entries: ProcessInfo[] = [];
  await link.call(HostRequest.LIST, [], (frame) => {
    if (frame.type !== HostReply.ENTRY) return;
    const reader = new FieldReader(frame.payload);
    const id = reader.str();
    const pid = reader.u32();
    const flags = reader.u32();
    const kind = reader.u32();
    const value = reader.u32();
    const startedAtMs = reader.u64();
    const endedAtMs = reader.u64();
    const command = reader.str();
    const ended = (flags & ProcessFlag.ENDED) !== 0;
    entries.push({
      id,
      pid,
      command,
      detached: isDetached(flags),
      running: !ended,
      exitCode: ended ? exitCodeOf(kind, value) : undefined,
      startedAt: new Date(startedAtMs),
      endedAt: ended ? new Date(endedAtMs) : undefined,
    });
  });
  return entries;
}

/** Checks a process id (before any I/O). */
export function checkProcessId(id: unknown): string {
  if (typeof id !== "string" || !PROCESS_ID_PATTERN.test(id)) {
    throw invalidArgument("id must be a process id from spawn or listProcesses.");
  }
  return id;
}
