/** One chunk of a stream at its byte offset. */
interface Chunk {
  offset: number;
  bytes: Buffer;
}

/**
 * One output stream of a process as the client has seen it: the newest `keepBytes` for
 * `output()`, plus whatever a reader that is iterating has not taken yet. Readers start at the
 * oldest chunk kept and end when the stream ends.
 */
export class OutputLog {
  private chunks: Chunk[] = [];
  private keptBytes = 0;
  /** The stream offset just past the last byte received. */
  next = 0;
  /** True once bytes were lost (log rotation on the VM) or dropped past `keepBytes`. */
  truncated = false;
  private ended = false;
  private failure: unknown;
  private readonly readers = new Set<{ position: number; wake: () => void }>();

  constructor(private readonly keepBytes: number) {}

  /** Adds bytes that start at stream `offset` (a jump past {@link next} is a gap; an overlap is skipped). */
  push(offset: number, bytes: Buffer): void {
    if (this.ended) return;
    if (offset > this.next) this.truncated = true;
    const skip = Math.max(0, this.next - offset);
    if (skip >= bytes.length) return;
    const fresh = skip > 0 ? bytes.subarray(skip) : bytes;
    const start = Math.max(offset, this.next);
    this.chunks.push({ offset: start, bytes: fresh });
    this.keptBytes += fresh.length;
    this.next = start + fresh.length;
    this.trim();
    for (const reader of this.readers) reader.wake();
  }

  /** No more bytes will come; readers finish once they took what is kept. */
  end(): void {
    this.ended = true;
    for (const reader of this.readers) reader.wake();
  }

  /** No more bytes will come, and readers reject with `error` once they took what is kept. */
  fail(error: unknown): void {
    this.failure ??= error;
    this.end();
  }

  /** The newest `keepBytes` received. */
  newest(): Buffer {
    const all = Buffer.concat(this.chunks.map((chunk) => chunk.bytes));
    return all.length > this.keepBytes ? all.subarray(all.length - this.keepBytes) : all;
  }

  /** Whether older bytes than {@link newest} exist (lost or dropped). */
  get cut(): boolean {
    return this.truncated || this.chunks.reduce((sum, chunk) => sum + chunk.bytes.length, 0) > this.keepBytes;
  }

  /** A reader from the oldest kept byte to the end of the stream. */
  async *read(): AsyncGenerator<Uint8Array> {
    const reader = { position: this.chunks[0]?.offset ?? this.next, wake: () => {} };
    this.readers.add(reader);
    try {
      for (;;) {
        const chunk = this.chunks.find((c) => c.offset + c.bytes.length > reader.position);
        if (chunk) {
          const from = Math.max(0, reader.position - chunk.offset);
          reader.position = chunk.offset + chunk.bytes.length;
          this.trim();
          yield from > 0 ? chunk.bytes.subarray(from) : chunk.bytes;
          continue;
        }
        if (this.ended) {
          if (this.failure !== undefined) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => {
          reader.wake = resolve;
        });
      }
    } finally {
      this.readers.delete(reader);
      this.trim();
    }
  }

  /** Drops chunks that are past the kept bound and that every reader has taken. */
  private trim(): void {
    let lowest = Number.POSITIVE_INFINITY;
    for (const reader of this.readers) lowest = Math.min(lowest, reader.position);
    while (this.chunks.length > 1) {
      const first = this.chunks[0] as Chunk;
      const end = first.offset + first.bytes.length;
      if (this.keptBytes - first.bytes.length < this.keepBytes || end > lowest) break;
      this.chunks.shift();
      this.keptBytes -= first.bytes.length;
      this.truncated = true;
    }
  }
}
