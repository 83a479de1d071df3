import { constants } from "node:os";
import { FieldReader, type Frame } from "../agent/protocol.js";
import { invalidArgument, SandboxError } from "../errors.js";
import type { ExecResult, ProcessOutput, ProcessSignal, SandboxProcess } from "../sandbox.js";
import { sleep } from "../ssh/semaphore.js";
import {
  ExitKind,
  exitCodeOf,
  HOST_INPUT_CHUNK_BYTES,
  HostReply,
  HostRequest,
  ProcessFlag,
} from "./host-protocol.js";
import { OutputLog } from "./output-log.js";
import {
  type EarlyFollow,
  HostErrorReply,
  type HostHandler,
  type HostLink,
  HostLost,
  type ProcessHost,
} from "./process-host.js";

/** Signals {@link SandboxProcess.kill} takes. */
const SIGNALS: readonly ProcessSignal[] = [
  "SIGKILL",
  "SIGTERM",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
];
/** How often following a process is started again after its host went, before giving up. */
const REFOLLOW_ATTEMPTS = 5;

/** What is known of a process when its handle is made. */
export interface ProcessFacts {
  id: string;
  pid: number;
  command: string;
  detached: boolean;
  startedAtMs: number;
}

interface Ending {
  kind: number;
  value: number;
  endedAtMs: number;
  timedOut: boolean;
}

const decodeAll = async function* (bytes: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of bytes) {
    const text = decoder.decode(chunk, { stream: true });
    if (text) yield text;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
};

const textOf = (bytes: Buffer): string => new TextDecoder("utf-8").decode(bytes);

/** Maps a host error on a process request to the public error family. */
export function processError(error: unknown, what: string): SandboxError {
  if (SandboxError.isInstance(error)) return error;
  if (error instanceof HostErrorReply) {
    if (error.errno === "ENOENT") return new SandboxError("not_found", `No such process (${what}).`);
    if (error.errno === "EPIPE")
      return new SandboxError("closed", `The process's stdin is closed (${what}).`);
    return new SandboxError("io_error", `The process host refused ${what}: ${error.errno}.`);
  }
  if (error instanceof HostLost)
    return new SandboxError("channel_failed", `The process host went during ${what}.`);
  return new SandboxError("io_error", `${what} failed: ${(error as Error)?.message}`, { cause: error });
}

/**
 * A process run by the sandbox's process host (PROCESSES.md): its output followed from the
 * host's logs, its stdin, signals and exit through the host's requests. When the host goes
 * (a lost connection, a dead agent) it follows again from where it was on a new host.
 */
export class HostedProcess implements SandboxProcess {
  readonly id: string;
  #pid: number;
  #command: string;
  #detached: boolean;
  readonly #host: ProcessHost;
  readonly #hold: () => () => void;
  readonly #out: OutputLog;
  readonly #err: OutputLog;
  #startedAtMs: number;
  readonly #startedAt: number;
  readonly #exit: Promise<ExecResult>;
  #settle!: { resolve: (result: ExecResult) => void; reject: (error: unknown) => void };
  #ending: Ending | undefined;
  #stdinClosing: Promise<void> | undefined;
  #writes: Promise<void> = Promise.resolve();
  #follow: { link: HostLink; id: number } | undefined;
  /** Set for a handle from attachProcess: its duration is the VM's, not this client's. */
  #attached = false;

  constructor(host: ProcessHost, facts: ProcessFacts, maxOutputBytes: number, hold: () => () => void) {
    this.#host = host;
    this.#hold = hold;
    this.id = facts.id;
    this.#pid = facts.pid;
    this.#command = facts.command;
    this.#detached = facts.detached;
    this.#startedAtMs = facts.startedAtMs;
    this.#startedAt = performance.now();
    this.#out = new OutputLog(maxOutputBytes);
    this.#err = new OutputLog(maxOutputBytes);
    this.#exit = new Promise<ExecResult>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.#exit.catch(() => {});
  }

  get pid(): number {
    return this.#pid;
  }

  get command(): string {
    return this.#command;
  }

  get detached(): boolean {
    return this.#detached;
  }

  /** Fills in what INFO says (attachProcess): the handle is made before the host answered. */
  setFacts(facts: Omit<ProcessFacts, "id">): void {
    this.#pid = facts.pid;
    this.#command = facts.command;
    this.#detached = facts.detached;
    this.#startedAtMs = facts.startedAtMs;
    this.#attached = true;
  }

  get stdoutBytes(): AsyncIterable<Uint8Array> {
    return this.#held(() => this.#out.read());
  }

  get stderrBytes(): AsyncIterable<Uint8Array> {
    return this.#held(() => this.#err.read());
  }

  get stdout(): AsyncIterable<string> {
    return { [Symbol.asyncIterator]: () => decodeAll(this.stdoutBytes) };
  }

  get stderr(): AsyncIterable<string> {
    return { [Symbol.asyncIterator]: () => decodeAll(this.stderrBytes) };
  }

  /** Whether it has exited (as far as this client has heard). */
  get exited(): boolean {
    return this.#ending !== undefined;
  }

  /**
   * Starts following its output from where this handle is, on the current host. `first`
   * handles the frames before output (INFO): for attach it resolves the handle's facts.
   */
  follow(
    link: HostLink,
    onInfo?: (reader: FieldReader) => void,
    onError?: (error: unknown) => void,
    sent?: EarlyFollow,
  ): void {
    let id = 0;
    let informed = false;
    try {
      const handler: HostHandler = {
        onFrame: (frame) =>
          this.#onFollowFrame(
            frame,
            link,
            id,
            () => {
              if (informed) return;
              informed = true;
              onInfo?.(new FieldReader(frame.payload));
            },
            onError,
          ),
        onLost: () => {
          if (!informed) onError?.(new HostLost("the process host is gone"));
          this.#refollow(0);
        },
      };
      if (sent) {
        id = sent.id;
        this.#follow = { link, id };
        sent.attach(handler);
        return;
      }
      id = link.open(handler);
    } catch (error) {
      if (onError) onError(error);
      else this.#refollow(0);
      return;
    }
    this.#follow = { link, id };
    link
      .send(HostRequest.FOLLOW, id, [{ str: this.id }, { u64: this.#out.next }, { u64: this.#err.next }])
      .catch(() => {});
  }

  #onFollowFrame(
    frame: Frame,
    link: HostLink,
    id: number,
    onInfo: () => void,
    onError: ((error: unknown) => void) | undefined,
  ): void {
    const reader = new FieldReader(frame.payload);
    if (frame.type === HostReply.INFO) onInfo();
    else if (frame.type === HostReply.OUT) this.#out.push(reader.u64(), reader.rest());
    else if (frame.type === HostReply.ERROUT) this.#err.push(reader.u64(), reader.rest());
    else if (frame.type === HostReply.EXITED) {
      link.finish(id);
      this.#follow = undefined;
      this.#ended({
        kind: reader.u32(),
        value: reader.u32(),
        endedAtMs: reader.u64(),
        timedOut: reader.u32() !== 0,
      });
    } else if (frame.type === HostReply.ERR) {
      link.finish(id);
      this.#follow = undefined;
      const error = processError(new HostErrorReply(reader.str(), reader.str()), "following its output");
      if (onError) onError(error);
      this.#fail(error);
    }
  }

  /** The host went while following: follow again on a new one (the process may still run). */
  #refollow(attempt: number): void {
    this.#follow = undefined;
    if (this.#ending) return;
    if (this.#host.closed) {
      this.#fail(new SandboxError("closed", "The sandbox was closed before the process exited."));
      return;
    }
    void (async () => {
      try {
        if (attempt > 0) await sleep(100 * attempt);
        this.follow(await this.#host.link());
      } catch (error) {
        if (attempt + 1 < REFOLLOW_ATTEMPTS && !this.#host.closed) this.#refollow(attempt + 1);
        else this.#fail(processError(error, "following its output"));
      }
    })();
  }

  #ended(ending: Ending): void {
    if (this.#ending) return;
    this.#ending = ending;
    this.#out.end();
    this.#err.end();
    const exitCode = exitCodeOf(ending.kind, ending.value);
    if (exitCode === undefined) {
      this.#settle.reject(
        new SandboxError(
          "closed",
          "The process ended without a recorded exit status (its keeper was killed or the VM restarted).",
        ),
      );
      return;
    }
    this.#settle.resolve({
      exitCode,
      stdout: textOf(this.#out.newest()),
      stderr: textOf(this.#err.newest()),
      timedOut: ending.timedOut,
      truncated: this.#out.cut || this.#err.cut,
      durationMs: this.#attached
        ? Math.max(0, ending.endedAtMs - this.#startedAtMs)
        : performance.now() - this.#startedAt,
    });
  }

  #fail(error: unknown): void {
    if (this.#ending) return;
    this.#ending = { kind: ExitKind.UNKNOWN, value: 0, endedAtMs: Date.now(), timedOut: false };
    this.#out.fail(error);
    this.#err.fail(error);
    this.#settle.reject(error);
  }

  /** Stops following (the host keeps the process and its logs). */
  unfollow(): void {
    const follow = this.#follow;
    if (!follow) return;
    this.#follow = undefined;
    follow.link.finish(follow.id);
    follow.link.send(HostRequest.UNFOLLOW, follow.id).catch(() => {});
  }

  write(data: string | Uint8Array): Promise<void> {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      return Promise.reject(invalidArgument("data must be a string or a Uint8Array."));
    }
    if (this.#stdinClosing || this.#ending) {
      return Promise.reject(new SandboxError("closed", "The process's stdin is closed."));
    }
    const bytes = typeof data === "string" ? Buffer.from(data) : Buffer.from(data);
    // In order, one after another: INPUTs of one process are queued on the host in arrival order.
    const next = this.#writes.then(() => this.#heldCall(() => this.#input(bytes)));
    this.#writes = next.catch(() => {});
    return next;
  }

  async #input(bytes: Buffer): Promise<void> {
    const link = await this.#host.link();
    const pieces: Promise<unknown>[] = [];
    for (let offset = 0; offset < bytes.length; offset += HOST_INPUT_CHUNK_BYTES) {
      const chunk = bytes.subarray(offset, Math.min(bytes.length, offset + HOST_INPUT_CHUNK_BYTES));
      pieces.push(link.call(HostRequest.INPUT, [{ str: this.id }, { bytes: chunk }]));
    }
    try {
      await Promise.all(pieces);
    } catch (error) {
      throw processError(error, "writing to its stdin");
    }
  }

  closeStdin(): Promise<void> {
    if (this.#ending && !this.#stdinClosing) this.#stdinClosing = Promise.resolve();
    this.#stdinClosing ??= this.#writes.then(() =>
      this.#heldCall(async () => {
        try {
          await (await this.#host.link()).call(HostRequest.CLOSE_STDIN, [{ str: this.id }]);
        } catch (error) {
          if (this.#ending) return; // it ended meanwhile: its stdin is closed anyway
          throw processError(error, "closing its stdin");
        }
      }),
    );
    return this.#stdinClosing;
  }

  wait(): Promise<ExecResult> {
    return this.#heldCall(() => this.#exit);
  }

  async kill(signal: ProcessSignal = "SIGKILL"): Promise<void> {
    if (!SIGNALS.includes(signal)) throw invalidArgument(`signal must be one of ${SIGNALS.join(", ")}.`);
    if (this.#ending) return;
    const signo = (constants.signals as Record<string, number>)[signal] as number;
    await this.#heldCall(async () => {
      try {
        await (await this.#host.link()).call(HostRequest.SIGNAL, [{ str: this.id }, { u32: signo }]);
      } catch (error) {
        if (this.#ending) return;
        throw processError(error, "sending it a signal");
      }
    });
  }

  async output(): Promise<ProcessOutput> {
    return {
      stdout: textOf(this.#out.newest()),
      stderr: textOf(this.#err.newest()),
      truncated: this.#out.cut || this.#err.cut,
    };
  }

  /** While `work` runs the connection keeps the Node process alive, as any pending call does. */
  async #heldCall<T>(work: () => Promise<T>): Promise<T> {
    const release = this.#hold();
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** An iterable whose iteration keeps the Node process alive while it waits for output. */
  #held(read: () => AsyncGenerator<Uint8Array>): AsyncIterable<Uint8Array> {
    const hold = this.#hold;
    return {
      [Symbol.asyncIterator]: () => {
        const inner = read();
        return {
          next: async () => {
            const release = hold();
            try {
              return await inner.next();
            } finally {
              release();
            }
          },
          return: async (value?: unknown) => inner.return(value as undefined),
        };
      },
    };
  }
}

/** The flags of INFO/ENTRY: whether detached. */
export const isDetached = (flags: number): boolean => (flags & ProcessFlag.DETACHED) !== 0;
