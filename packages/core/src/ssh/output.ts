/** Length of `buffer` without a trailing, incomplete UTF-8 sequence. */
function completeUtf8Length(buffer: Buffer): number {
  for (let i = buffer.length - 1; i >= 0 && i >= buffer.length - 4; i--) {
    const byte = buffer[i] ?? 0;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    const size = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + size <= buffer.length ? buffer.length : i;
  }
  return buffer.length;
}

/**
 * Collects one output stream: keeps at most `limitBytes` (flagging the rest as truncated) and
 * streams decoded text to a callback. Decoding is stateful, so a multi-byte character split
 * across two chunks arrives whole.
 */
export class OutputCollector {
  private readonly chunks: Buffer[] = [];
  private keptBytes = 0;
  private readonly decoder = new TextDecoder("utf-8");
  private detached = false;
  /** True once any byte was dropped. */
  truncated = false;

  constructor(
    private readonly limitBytes: number,
    private readonly onText?: (chunk: string) => void,
  ) {}

  /**
   * Stops collecting and streaming: the call has returned (a deadline or an abort), and output
   * the process prints while it is being killed belongs to nobody.
   */
  detach(): void {
    this.detached = true;
  }

  /** Adds a chunk as it arrives. */
  push(chunk: Buffer): void {
    if (this.detached) return;
    if (this.onText) {
      const text = this.decoder.decode(chunk, { stream: true });
      if (text) this.onText(text);
    }
    const room = this.limitBytes - this.keptBytes;
    if (room <= 0) {
      if (chunk.length > 0) this.truncated = true;
      return;
    }
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
    if (kept.length < chunk.length) this.truncated = true;
    this.chunks.push(kept);
    this.keptBytes += kept.length;
  }

  /** Flushes a trailing partial character to the callback. */
  end(): void {
    if (this.onText && !this.detached) {
      const text = this.decoder.decode();
      if (text) this.onText(text);
    }
  }

  /** Everything kept, decoded; a cut never leaves half a character. */
  text(): string {
    const all = Buffer.concat(this.chunks);
    return (this.truncated ? all.subarray(0, completeUtf8Length(all)) : all).toString("utf8");
  }
}

const MARKER = /\x1eEXEDEV_PID=(\d+):(\d*)\x1e/;
/** Longest stderr prefix searched for the marker before giving up (shell start-up noise). */
const MARKER_SEARCH_BYTES = 64 * 1024;

/** What the exec wrapper's marker says about the command's shell. */
export interface ShellIdentity {
  pid: number;
  /** Start time in clock ticks; empty when the server has no `/proc`. */
  startTicks: string;
}

/**
 * Removes the marker the exec wrapper prints on stderr before the user's command runs, reporting
 * the shell's pid and start time. Bytes before the marker (login-shell noise) are passed on.
 */
export class MarkerStripper {
  private held: Buffer = Buffer.alloc(0);
  private found = false;

  constructor(
    private readonly onMarker: (shell: ShellIdentity) => void,
    private readonly forward: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.found) {
      this.forward(chunk);
      return;
    }
    this.held = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    const match = MARKER.exec(this.held.toString("latin1"));
    if (match) {
      this.found = true;
      const before = this.held.subarray(0, match.index);
      const after = this.held.subarray(match.index + match[0].length);
      this.held = Buffer.alloc(0);
      if (before.length > 0) this.forward(before);
      this.onMarker({ pid: Number(match[1]), startTicks: match[2] ?? "" });
      if (after.length > 0) this.forward(after);
    } else if (this.held.length > MARKER_SEARCH_BYTES) {
      this.found = true;
      const held = this.held;
      this.held = Buffer.alloc(0);
      this.forward(held);
    }
  }

  /** Passes on anything still held (the marker never came). */
  end(): void {
    if (!this.found && this.held.length > 0) this.forward(this.held);
    this.held = Buffer.alloc(0);
  }
}
