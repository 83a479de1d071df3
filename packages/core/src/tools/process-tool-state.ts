import { SandboxError } from "../errors.js";
import type { ExecResult, Sandbox, SandboxProcess } from "../sandbox.js";

/**
 * Unread text kept per stream of a tracked process. A server nobody reads could print without
 * end; past this only the newest text is kept and the cut is counted, so the model is told.
 */
const PENDING_MAX_CHARS = 1_000_000;
/**
 * An attached process's kept output arrives after `attachProcess` resolves. The longest wait for
 * its first chunk, and the quiet gap taken as "the backlog is in", so the first read shows it.
 */
const BACKLOG_FIRST_MS = 1_000;
const BACKLOG_QUIET_MS = 100;
const BACKLOG_MAX_MS = 3_000;

/** Output read from a tracked process since the last read. */
export interface TakenOutput {
  stdout: string;
  stderr: string;
  /** Characters dropped since the last read because nobody read them in time. */
  droppedChars: number;
}

/** How a tracked process ended, once both its streams are drained. */
export type TrackedExit = Pick<ExecResult, "exitCode" | "timedOut">;

class PendingText {
  private parts: string[] = [];
  private size = 0;
  dropped = 0;

  push(chunk: string): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size > PENDING_MAX_CHARS) {
      const joined = this.parts.join("");
      const cut = joined.length - PENDING_MAX_CHARS;
      this.dropped += cut;
      this.parts = [joined.slice(cut)];
      this.size = PENDING_MAX_CHARS;
    }
  }

  peek(): string {
    if (this.parts.length > 1) this.parts = [this.parts.join("")];
    return this.parts[0] ?? "";
  }

  take(): string {
    const text = this.peek();
    this.parts = [];
    this.size = 0;
    return text;
  }
}

/**
 * A process the tools started or attached to, with the output nobody has read yet. Both output
 * streams are read from the start (as `SandboxProcess` asks: both or neither), into bounded
 * buffers, so a read returns exactly what arrived since the previous one.
 */
export class TrackedProcess {
  private readonly out = new PendingText();
  private readonly err = new PendingText();
  private exit: TrackedExit | undefined;
  private failure: unknown;
  private readonly listeners = new Set<() => void>();
  private chunks = 0;
  /** Settles once the process exited and both streams are drained (or reading them failed). */
  readonly settled: Promise<void>;

  constructor(readonly process: SandboxProcess) {
    const pumps = [this.pump(process.stdout, this.out), this.pump(process.stderr, this.err)];
    this.settled = Promise.all(pumps)
      .then(() => process.wait())
      .then(
        (result) => {
          this.exit = { exitCode: result.exitCode, timedOut: result.timedOut };
        },
        (error: unknown) => {
          this.failure = error;
        },
      )
      .finally(() => this.notify());
  }

  private async pump(stream: AsyncIterable<string>, into: PendingText): Promise<void> {
    for await (const chunk of stream) {
      into.push(chunk);
      this.chunks++;
      this.notify();
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Makes pending {@link until} calls check their condition again (it changed outside the output). */
  wake(): void {
    this.notify();
  }

  /** Its exit, once it exited and its output is all in; `undefined` while it runs. */
  get exited(): TrackedExit | undefined {
    return this.exit;
  }

  /** Whether `text` is in the output not read yet (either stream). */
  unreadIncludes(text: string): boolean {
    return this.out.peek().includes(text) || this.err.peek().includes(text);
  }

  /**
   * Waits (bounded) until the output the VM kept has come in: for the first chunk, then for a
   * quiet gap. `SandboxProcess` gives no "caught up" mark, so this is a bound, not a guarantee;
   * what comes later is in the next read.
   */
  async backlog(): Promise<void> {
    const began = Date.now();
    await this.until(() => this.chunks > 0, BACKLOG_FIRST_MS).catch(() => {});
    for (let seen = -1; seen !== this.chunks && Date.now() - began < BACKLOG_MAX_MS; ) {
      seen = this.chunks;
      await new Promise((resolve) => setTimeout(resolve, BACKLOG_QUIET_MS));
    }
  }

  /** What arrived since the last read; the next read starts after it. */
  take(): TakenOutput {
    const droppedChars = this.out.dropped + this.err.dropped;
    this.out.dropped = 0;
    this.err.dropped = 0;
    return { stdout: this.out.take(), stderr: this.err.take(), droppedChars };
  }

  /**
   * Resolves once `done()` holds (checked on every new chunk and at the exit), the process has
   * settled, `timeoutMs` passed or `signal` aborted; resolves with whether `done()` held.
   * Rethrows a failure to read the process (the sandbox went away), which is not the model's to fix.
   */
  async until(done: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (!done() && this.exit === undefined && this.failure === undefined && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", finish);
          this.listeners.delete(check);
          resolve();
        };
        const check = (): void => {
          if (done() || this.exit !== undefined || this.failure !== undefined) finish();
        };
        const timer = setTimeout(finish, timeoutMs);
        signal?.addEventListener("abort", finish, { once: true });
        this.listeners.add(check);
      });
    }
    if (this.failure !== undefined && this.exit === undefined) throw this.failure;
    if (signal?.aborted) throw abortedError();
    return done();
  }
}

/**
 * The processes the tools know, per sandbox object: keyed by the `Sandbox` the adapter passes
 * to every tool run, so one agent's `start_process` and its next `process_output` share the
 * read position, and the state goes when the sandbox object is garbage. Another sandbox object
 * (another client, a reconnect) starts with an empty table: it attaches to the process by id and
 * its first read returns what the VM kept of the output (up to the last 1 MiB per stream).
 */
const tables = new WeakMap<Sandbox, Map<string, TrackedProcess>>();

function tableOf(sandbox: Sandbox): Map<string, TrackedProcess> {
  let table = tables.get(sandbox);
  if (!table) {
    table = new Map();
    tables.set(sandbox, table);
  }
  return table;
}

/** Starts tracking a process this sandbox object just spawned. */
export function track(sandbox: Sandbox, process: SandboxProcess): TrackedProcess {
  const tracked = new TrackedProcess(process);
  tracked.settled.catch(() => {}); // read through `until`; never an unhandled rejection
  tableOf(sandbox).set(process.id, tracked);
  return tracked;
}

/**
 * The tracked process with this id, attaching to it (from any client) when this sandbox object
 * does not know it yet. Rejects with core's `not_found` for an id the VM does not know.
 */
export async function trackedProcess(sandbox: Sandbox, id: string): Promise<TrackedProcess> {
  const known = tableOf(sandbox).get(id);
  if (known) return known;
  const attached = await sandbox.attachProcess(id);
  // Two calls may have attached at once; keep the first, so there is one read position.
  const raced = tableOf(sandbox).get(id);
  if (raced) return raced;
  const tracked = track(sandbox, attached);
  await tracked.backlog();
  return tracked;
}

/** A model-facing error for a call cancelled by its signal. */
export function abortedError(): SandboxError {
  return new SandboxError("aborted", "The tool call was aborted.");
}
