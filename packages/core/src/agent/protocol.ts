// The client side of the agent's wire format; PROTOCOL.md beside this file is the reference.

/** The protocol version this client speaks (HELLO's `version`). */
export const PROTOCOL_VERSION = 2;

/** Largest payload in one frame (either direction). */
export const MAX_PAYLOAD_BYTES: number = 1024 * 1024;

/** Bytes before the payload: u32 length, u8 type, u32 id. */
const HEADER_BYTES = 9;

/** Frame types, client → agent. */
export const Request = {
  EXEC: 0x01,
  INPUT: 0x02,
  KILL: 0x03,
  ACK: 0x04,
  READ: 0x10,
  WRITE: 0x11,
  STAT: 0x12,
  LSTAT: 0x13,
  READDIR: 0x14,
  MKDIR: 0x15,
  RM: 0x16,
  RENAME: 0x17,
  PING: 0x18,
  READ_STREAM: 0x19,
} as const;

/** Frame types, agent → client. */
export const Reply = {
  HELLO: 0x80,
  STDOUT: 0x81,
  STDERR: 0x82,
  EXIT: 0x83,
  DATA: 0x84,
  OK: 0x85,
  ERR: 0x86,
  FATAL: 0x87,
} as const;

/** WRITE's `mode` meaning "none given". */
export const NO_MODE = 0xffffffff;

/** One payload field. */
export type Field = { u32: number } | { u64: number } | { str: string | Uint8Array } | { bytes: Uint8Array };

/** Encodes one frame. */
export function encodeFrame(type: number, id: number, fields: readonly Field[] = []): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    if ("u32" in field) {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(field.u32 >>> 0);
      parts.push(b);
    } else if ("u64" in field) {
      const b = Buffer.allocUnsafe(8);
      b.writeBigUInt64BE(BigInt(field.u64));
      parts.push(b);
    } else if ("str" in field) {
      const value = typeof field.str === "string" ? Buffer.from(field.str, "utf8") : Buffer.from(field.str);
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(value.length);
      parts.push(b, value);
    } else {
      parts.push(Buffer.from(field.bytes.buffer, field.bytes.byteOffset, field.bytes.byteLength));
    }
  }
  const payloadBytes = parts.reduce((sum, part) => sum + part.length, 0);
  if (payloadBytes > MAX_PAYLOAD_BYTES) throw new RangeError("agent frame payload too large");
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(payloadBytes + 5, 0);
  header.writeUInt8(type, 4);
  header.writeUInt32BE(id >>> 0, 5);
  return Buffer.concat([header, ...parts], HEADER_BYTES + payloadBytes);
}

/** A decoded frame. */
export interface Frame {
  type: number;
  id: number;
  payload: Buffer;
}

/** Splits a byte stream into frames; throws on a length no agent sends. */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** Adds bytes; returns the frames they completed. */
  push(chunk: Buffer): Frame[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Frame[] = [];
    while (this.pendingBytes >= 4) {
      const head = this.peek(HEADER_BYTES);
      const length = head.readUInt32BE(0);
      if (length < 5 || length > MAX_PAYLOAD_BYTES + 5) {
        throw new RangeError(`malformed agent frame (length ${length})`);
      }
      if (this.pendingBytes < 4 + length) break;
      const whole = this.take(4 + length);
      frames.push({
        type: whole.readUInt8(4),
        id: whole.readUInt32BE(5),
        payload: whole.subarray(HEADER_BYTES),
      });
    }
    return frames;
  }

  private peek(bytes: number): Buffer {
    const first = this.pending[0] as Buffer;
    if (first.length >= bytes || this.pending.length === 1) return first;
    this.pending = [Buffer.concat(this.pending)];
    return this.pending[0] as Buffer;
  }

  private take(bytes: number): Buffer {
    const joined = this.peek(bytes);
    const whole = joined.subarray(0, bytes);
    const rest = joined.subarray(bytes);
    this.pending = rest.length > 0 ? [rest, ...this.pending.slice(1)] : this.pending.slice(1);
    this.pendingBytes -= bytes;
    return whole;
  }
}

/** Reads payload fields in order; throws when the payload is shorter than its fields. */
export class FieldReader {
  private offset = 0;

  constructor(private readonly payload: Buffer) {}

  u32(): number {
    this.need(4);
    const value = this.payload.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  u64(): number {
    this.need(8);
    const value = Number(this.payload.readBigUInt64BE(this.offset));
    this.offset += 8;
    return value;
  }

  buffer(): Buffer {
    const length = this.u32();
    this.need(length);
    const value = this.payload.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  str(): string {
    return this.buffer().toString("utf8");
  }

  rest(): Buffer {
    const value = this.payload.subarray(this.offset);
    this.offset = this.payload.length;
    return value;
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.payload.length) throw new RangeError("short agent payload");
  }
}

/** A stat record as the agent sends it. */
export interface AgentStat {
  mode: number;
  size: number;
  mtimeSeconds: number;
  uid: number;
  gid: number;
}

/** Reads one stat record. */
export function readStat(reader: FieldReader): AgentStat {
  return {
    mode: reader.u32(),
    size: reader.u64(),
    mtimeSeconds: reader.u64(),
    uid: reader.u32(),
    gid: reader.u32(),
  };
}
