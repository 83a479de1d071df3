/**
 * Collects stdout and stderr chunks in the order they arrive (as a terminal shows them). Past
 * `maxChars` it keeps the head and the tail, where errors and test summaries usually are.
 */
export class CombinedOutput {
  private head = "";
  private tail = "";
  private cut = 0;
  private readonly headChars: number;
  private readonly tailChars: number;

  constructor(maxChars: number) {
    this.headChars = Math.ceil(maxChars / 2);
    this.tailChars = maxChars - this.headChars;
  }

  /** Adds a chunk (bound, so it can be passed as a callback). */
  readonly add = (chunk: string): void => {
    const room = this.headChars - this.head.length;
    if (room > 0) {
      this.head += chunk.slice(0, room);
      chunk = chunk.slice(room);
    }
    this.tail += chunk;
    // Trim in batches, not on every chunk, so long output is not copied over and over.
    if (this.tail.length > 2 * this.tailChars + 65_536) this.trimTail();
  };

  /** Whether anything was cut. */
  get truncated(): boolean {
    this.trimTail();
    return this.cut > 0;
  }

  /** The output, with a marker where the middle was cut. */
  text(): string {
    this.trimTail();
    return this.cut > 0
      ? `${this.head}\n[... ${this.cut} characters cut ...]\n${this.tail}`
      : this.head + this.tail;
  }

  private trimTail(): void {
    if (this.tail.length <= this.tailChars) return;
    this.cut += this.tail.length - this.tailChars;
    this.tail = this.tail.slice(this.tail.length - this.tailChars);
  }
}
