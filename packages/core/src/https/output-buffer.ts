/**
 * One output stream of an HTTPS exec: keeps at most `limitBytes`, streams decoded text to a
 * callback (a multi-byte character split across two responses arrives whole), Buffer-free.
 */
export class OutputBuffer {
  private readonly chunks: Uint8Array[] = [];
  private readonly decoder = new TextDecoder("utf-8");
  /** Bytes received from the VM (kept or not). */
  received = 0;
  /** Bytes kept. */
  kept = 0;

  constructor(
    private readonly limitBytes: number,
    private readonly onText?: (chunk: string) => void,
  ) {}

  /** How many more bytes the client wants from the VM: all when streaming, else up to the limit. */
  wanted(): number {
    return this.onText ? Number.MAX_SAFE_INTEGER : Math.max(0, this.limitBytes - this.received);
  }

  push(chunk: Uint8Array): void {
    this.received += chunk.length;
    if (this.onText) {
      const text = this.decoder.decode(chunk, { stream: true });
      if (text) this.onText(text);
    }
    const room = this.limitBytes - this.kept;
    if (room <= 0) return;
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(kept);
    this.kept += kept.length;
  }

  /** Flushes a trailing partial character to the callback. */
  end(): void {
    if (!this.onText) return;
    const text = this.decoder.decode();
    if (text) this.onText(text);
  }

  /** Everything kept, decoded; a cut never leaves half a character. */
  text(truncated: boolean): string {
    const all = new Uint8Array(this.kept);
    let at = 0;
    for (const chunk of this.chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    return new TextDecoder("utf-8").decode(truncated ? all.subarray(0, completeUtf8Length(all)) : all);
  }
}

/** Length of `bytes` without a trailing, incomplete UTF-8 sequence. */
function completeUtf8Length(bytes: Uint8Array): number {
  for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 4; i--) {
    const byte = bytes[i] ?? 0;
    if ((byte & 0xc0) === 0x80) continue;
    const size = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + size <= bytes.length ? bytes.length : i;
  }
  return bytes.length;
}
