// SFTP v3 packets, read and written as bytes. The emulator speaks SFTP itself rather than
// through ssh2's server-side parser, which decodes every path as UTF-8 (non-UTF-8 names were
// mangled and vanished from listings), swaps SYMLINK's arguments by the client's name, treats
// unknown or malformed requests as fatal and cannot send EXTENDED_REPLY. Paths stay Buffers
// from the wire to the kernel and back, as in OpenSSH's sftp-server.

/** Packet types (draft-ietf-secsh-filexfer-02). */
export const PACKET = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** Status codes. */
export const STATUS = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  OP_UNSUPPORTED: 8,
} as const;

/** The messages OpenSSH's sftp-server sends with each status (`status_to_message`). */
const STATUS_MESSAGES: Readonly<Record<number, string>> = {
  0: "Success",
  1: "End of file",
  2: "No such file",
  3: "Permission denied",
  4: "Failure",
  5: "Bad message",
  6: "No connection",
  7: "Connection lost",
  8: "Operation unsupported",
};

/** Open flags (SSH_FXF_*). */
export const OPEN_FLAG = { READ: 1, WRITE: 2, APPEND: 4, CREAT: 8, TRUNC: 0x10, EXCL: 0x20 } as const;

const ATTR = { SIZE: 1, UIDGID: 2, PERMISSIONS: 4, ACMODTIME: 8, EXTENDED: 0x80000000 } as const;

/** File attributes; a field is absent when the packet did not carry it. */
export interface SftpAttrs {
  size?: number;
  uid?: number;
  gid?: number;
  mode?: number;
  atime?: number;
  mtime?: number;
}

/** A malformed request: answered with SSH_FX_BAD_MESSAGE. */
export class MalformedPacket extends Error {}

/** Reads the fields of one packet in order; any read past the end throws {@link MalformedPacket}. */
export class PacketReader {
  private offset = 0;

  constructor(private readonly bytes: Buffer) {}

  private take(length: number): Buffer {
    if (length < 0 || this.offset + length > this.bytes.length) throw new MalformedPacket("short packet");
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  u8(): number {
    return this.take(1)[0] as number;
  }

  u32(): number {
    return this.take(4).readUInt32BE(0);
  }

  u64(): number {
    const value = this.take(8).readBigUInt64BE(0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedPacket("offset out of range");
    return Number(value);
  }

  /** An SSH string, as bytes (never decoded). */
  string(): Buffer {
    return this.take(this.u32());
  }

  attrs(): SftpAttrs {
    const flags = this.u32();
    const attrs: SftpAttrs = {};
    if (flags & ATTR.SIZE) attrs.size = this.u64();
    if (flags & ATTR.UIDGID) {
      attrs.uid = this.u32();
      attrs.gid = this.u32();
    }
    if (flags & ATTR.PERMISSIONS) attrs.mode = this.u32();
    if (flags & ATTR.ACMODTIME) {
      attrs.atime = this.u32();
      attrs.mtime = this.u32();
    }
    if (flags & ATTR.EXTENDED) {
      const count = this.u32();
      for (let index = 0; index < count; index++) {
        this.string();
        this.string();
      }
    }
    return attrs;
  }

  /** Whatever is left (an EXTENDED request's data). */
  rest(): Buffer {
    return this.take(this.bytes.length - this.offset);
  }
}

const u32 = (value: number): Buffer => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0);
  return bytes;
};

const u64 = (value: number): Buffer => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(Math.max(0, Math.trunc(value))));
  return bytes;
};

/** An SSH string: length, then the bytes (a JS string is written as UTF-8). */
export const sshString = (value: string | Buffer): Buffer => {
  const bytes = typeof value === "string" ? Buffer.from(value) : value;
  return Buffer.concat([u32(bytes.length), bytes]);
};

function encodeAttrs(attrs: SftpAttrs): Buffer {
  let flags = 0;
  const parts: Buffer[] = [];
  if (attrs.size !== undefined) {
    flags |= ATTR.SIZE;
    parts.push(u64(attrs.size));
  }
  if (attrs.uid !== undefined && attrs.gid !== undefined) {
    flags |= ATTR.UIDGID;
    parts.push(u32(attrs.uid), u32(attrs.gid));
  }
  if (attrs.mode !== undefined) {
    flags |= ATTR.PERMISSIONS;
    parts.push(u32(attrs.mode));
  }
  if (attrs.atime !== undefined && attrs.mtime !== undefined) {
    flags |= ATTR.ACMODTIME;
    parts.push(u32(attrs.atime), u32(attrs.mtime));
  }
  return Buffer.concat([u32(flags), ...parts]);
}

/** A whole packet: length, type, then the fields. */
export function packet(type: number, ...fields: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
}

/** One entry of a NAME reply. */
export interface NameEntry {
  filename: Buffer;
  longname: Buffer;
  attrs: SftpAttrs;
}

/** Reply builders, one per response type. */
export const reply = {
  version: (extensions: Readonly<Record<string, string>>): Buffer =>
    packet(
      PACKET.VERSION,
      u32(3),
      ...Object.entries(extensions).flatMap(([name, data]) => [sshString(name), sshString(data)]),
    ),
  status: (id: number, code: number): Buffer =>
    packet(PACKET.STATUS, u32(id), u32(code), sshString(STATUS_MESSAGES[code] ?? "Failure"), sshString("")),
  handle: (id: number, handle: Buffer): Buffer => packet(PACKET.HANDLE, u32(id), sshString(handle)),
  data: (id: number, data: Buffer): Buffer => packet(PACKET.DATA, u32(id), sshString(data)),
  name: (id: number, entries: readonly NameEntry[]): Buffer =>
    packet(
      PACKET.NAME,
      u32(id),
      u32(entries.length),
      ...entries.flatMap((entry) => [
        sshString(entry.filename),
        sshString(entry.longname),
        encodeAttrs(entry.attrs),
      ]),
    ),
  attrs: (id: number, attrs: SftpAttrs): Buffer => packet(PACKET.ATTRS, u32(id), encodeAttrs(attrs)),
  extended: (id: number, payload: Buffer): Buffer => packet(PACKET.EXTENDED_REPLY, u32(id), payload),
};

/**
 * Cuts a byte stream into packets (without their length prefix).
 * @param maxBytes - Longest packet body accepted; a longer length (or 0) means framing is lost.
 */
export class PacketFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxBytes: number) {}

  /** Adds bytes; returns the complete packets, or `lost` when the stream cannot be framed any more. */
  push(data: Buffer): Buffer[] | "lost" {
    this.chunks.push(data);
    this.buffered += data.length;
    const packets: Buffer[] = [];
    while (this.buffered >= 4) {
      const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
      this.chunks = [all];
      const length = all.readUInt32BE(0);
      if (length === 0 || length > this.maxBytes) return "lost";
      if (this.buffered < 4 + length) break;
      packets.push(all.subarray(4, 4 + length));
      const rest = all.subarray(4 + length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return packets;
  }
}
