/**
 * RFC 4251 encodings (uint32, string, mpint) used by SSH keys, SSH signatures and SSHSIG blobs.
 */

/** Thrown by {@link SshReader} on malformed input; callers turn it into a `SandboxError`. */
export class WireFormatError extends Error {
  override name = "WireFormatError";
}

/** A uint32, big-endian. */
export function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

/** An SSH `string`: uint32 length, then the bytes. */
export function sshString(value: Uint8Array | string): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
  return Buffer.concat([u32(bytes.length), bytes]);
}

/** An SSH `mpint` of a non-negative big-endian magnitude: minimal, with a 0x00 byte when the top bit is set. */
export function sshMpint(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  const trimmed = Buffer.from(magnitude.subarray(start));
  const body =
    trimmed.length > 0 && (trimmed[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.of(0), trimmed]) : trimmed;
  return sshString(body);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads SSH wire fields in order; every read checks bounds, so truncated input cannot go unnoticed. */
export class SshReader {
  private offset = 0;
  private readonly data: Buffer;

  constructor(data: Uint8Array) {
    this.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Reads `length` raw bytes. */
  bytes(length: number): Buffer {
    if (length > this.data.length - this.offset) throw new WireFormatError("truncated");
    const out = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  u32(): number {
    return this.bytes(4).readUInt32BE(0);
  }

  string(): Buffer {
    return this.bytes(this.u32());
  }

  /** A `string` that must be valid UTF-8. */
  text(): string {
    try {
      return utf8.decode(this.string());
    } catch {
      throw new WireFormatError("not UTF-8");
    }
  }

  /**
   * A positive `mpint`, returned as its magnitude without leading zero bytes. Like OpenSSH,
   * extra leading zeros are tolerated; negative numbers and zero are not (no key or signature
   * field may hold them).
   */
  positiveMpint(): Buffer {
    const raw = this.string();
    if (raw.length > 0 && (raw[0]! & 0x80) !== 0) throw new WireFormatError("negative mpint");
    let start = 0;
    while (start < raw.length && raw[start] === 0) start++;
    if (start === raw.length) throw new WireFormatError("zero mpint");
    return raw.subarray(start);
  }

  /** Fails when bytes are left over: trailing data would otherwise ride along unsigned. */
  end(): void {
    if (this.offset !== this.data.length) throw new WireFormatError("trailing data");
  }
}
