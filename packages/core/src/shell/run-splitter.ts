/** Most bytes printed between runs (by a background job) that are held for the next run. */
const MAX_HELD_BETWEEN_RUNS_BYTES = 1024 * 1024;

interface Waiting {
  prefix: Buffer;
  onData: (chunk: Buffer) => void;
  onEnd: (payload: string) => void;
}

/**
 * Cuts one output stream of a shell session into runs. Each run ends with a marker the session
 * prints after the command, `\x1e<marker>:<payload>\x1e`, where the marker is random per run
 * (so no output can end a run early by chance) and the payload is the exit status on stdout
 * (empty on stderr). Bytes that could be the start of the marker are held back until the next
 * chunk says whether they are. What arrives while no run waits (a background job of an earlier
 * run) is kept, up to a bound, for the next run: it was printed then.
 */
export class RunSplitter {
  #pending: Buffer = Buffer.alloc(0);
  #waiting: Waiting | undefined;

  /** Adds a chunk of the stream. */
  push(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#scan();
  }

  /** Starts the next run: `onData` gets its bytes, `onEnd` the marker's payload once it arrives. */
  expect(marker: string, onData: (chunk: Buffer) => void, onEnd: (payload: string) => void): void {
    this.#waiting = { prefix: Buffer.from(`\x1e${marker}:`), onData, onEnd };
    this.#scan();
  }

  /** Stops the current run without its marker (the session ended). */
  abandon(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting && this.#pending.length > 0) waiting.onData(this.#pending);
    this.#pending = Buffer.alloc(0);
  }

  #scan(): void {
    const waiting = this.#waiting;
    if (!waiting) {
      if (this.#pending.length > MAX_HELD_BETWEEN_RUNS_BYTES) {
        this.#pending = this.#pending.subarray(this.#pending.length - MAX_HELD_BETWEEN_RUNS_BYTES);
      }
      return;
    }
    const { prefix } = waiting;
    const at = this.#pending.indexOf(prefix);
    if (at < 0) {
      // Keep only a tail that may be the start of the marker.
      const keep = Math.min(this.#pending.length, prefix.length - 1);
      let from = this.#pending.length - keep;
      while (
        from < this.#pending.length &&
        !prefix.subarray(0, this.#pending.length - from).equals(this.#pending.subarray(from))
      )
        from++;
      this.#emit(waiting, from);
      return;
    }
    this.#emit(waiting, at);
    const close = this.#pending.indexOf(0x1e, prefix.length);
    if (close < 0) return; // the payload is still on its way
    const payload = this.#pending.subarray(prefix.length, close).toString("latin1");
    this.#pending = this.#pending.subarray(close + 1);
    this.#waiting = undefined;
    waiting.onEnd(payload);
  }

  #emit(waiting: Waiting, end: number): void {
    if (end <= 0) return;
    waiting.onData(this.#pending.subarray(0, end));
    this.#pending = this.#pending.subarray(end);
  }
}
