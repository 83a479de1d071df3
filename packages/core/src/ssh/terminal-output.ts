import type { ClientChannel } from "ssh2";

/** Output held for a reader before the channel is paused (the server then stops sending). */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * A terminal's output as a web stream. Chunks are buffered up to a bound, then the channel is
 * paused, so a program printing faster than the reader reads is held back by the SSH window,
 * as on a real terminal. Only a pending read keeps the process alive (`hold`): a terminal
 * nobody reads does not stop a script from exiting.
 */
export class TerminalOutput {
  readonly stream: ReadableStream<Uint8Array>;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #ended = false;
  #cancelled = false;
  #paused = false;
  #unbounded = false;
  #wake: (() => void) | undefined;

  constructor(
    private readonly channel: ClientChannel,
    hold: () => () => void,
  ) {
    this.stream = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          if (this.#chunks.length === 0 && !this.#ended) {
            const release = hold();
            try {
              await new Promise<void>((resolve) => {
                this.#wake = resolve;
              });
            } finally {
              release();
            }
          }
          const chunk = this.#take();
          if (chunk) controller.enqueue(chunk);
          else controller.close();
        },
        cancel: () => {
          // Output nobody wants is dropped, not left to stall the channel.
          this.#cancelled = true;
          this.#chunks = [];
          this.#bytes = 0;
          this.#resume();
        },
      },
      { highWaterMark: 0 },
    );
  }

  push(chunk: Buffer): void {
    if (this.#cancelled || this.#ended) return;
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes > MAX_BUFFERED_BYTES && !this.#paused && !this.#unbounded) {
      this.#paused = true;
      this.channel.pause();
    }
    this.#notify();
  }

  /**
   * Stops holding the channel back (the terminal is closing): ssh2 reports the channel's close
   * only once its data was taken, so a paused channel would never finish closing.
   */
  unbound(): void {
    this.#unbounded = true;
    this.#resume();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Everything buffered, as one chunk (keystroke echoes arrive as many tiny ones). */
  #take(): Uint8Array | undefined {
    if (this.#chunks.length === 0) return undefined;
    const all = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#bytes = 0;
    this.#resume();
    return new Uint8Array(all.buffer, all.byteOffset, all.length);
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.channel.resume();
  }
}
