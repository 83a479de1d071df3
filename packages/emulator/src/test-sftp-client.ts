// An SFTP client that speaks the protocol byte by byte, for this package's tests (not part of
// the build): over an ssh2 channel to the emulator, or over the pipes of OpenSSH's own
// sftp-server, so the two can be compared packet for packet.

/** What the client needs of a connection: bytes in, bytes out. */
export interface ByteChannel {
  write(data: Buffer): unknown;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
}

/** One decoded reply, in a form two servers' answers can be compared in. */
export type Reply =
  | { type: "status"; code: number; message: string }
  | { type: "handle"; handle: Buffer }
  | { type: "data"; data: Buffer }
  | { type: "name"; names: Buffer[] }
  | { type: "attrs"; mode: number | undefined }
  | { type: "other"; packetType: number };

/** SFTP v3 spoken byte by byte. */
export class RawSftp<C extends ByteChannel = ByteChannel> {
  private buffer = Buffer.alloc(0);
  private waiting: Array<(packet: Buffer) => void> = [];
  private readonly packets: Buffer[] = [];
  private nextId = 1000;

  constructor(readonly channel: C) {
    channel.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 4 && this.buffer.length >= 4 + this.buffer.readUInt32BE(0)) {
        const packet = this.buffer.subarray(4, 4 + this.buffer.readUInt32BE(0));
        this.buffer = this.buffer.subarray(4 + packet.length);
        const waiter = this.waiting.shift();
        if (waiter) waiter(packet);
        else this.packets.push(packet);
      }
    });
  }

  static u32(value: number): Buffer {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(value);
    return bytes;
  }

  static u64(value: number): Buffer {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(BigInt(value));
    return bytes;
  }

  static str(value: string | Buffer): Buffer {
    const bytes = typeof value === "string" ? Buffer.from(value) : value;
    return Buffer.concat([RawSftp.u32(bytes.length), bytes]);
  }

  send(type: number, ...parts: Buffer[]): void {
    const body = Buffer.concat([Buffer.from([type]), ...parts]);
    this.channel.write(Buffer.concat([RawSftp.u32(body.length), body]));
  }

  next(): Promise<Buffer> {
    const queued = this.packets.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Sends INIT (version 3) and waits for VERSION. */
  async init(): Promise<void> {
    this.send(1, RawSftp.u32(3));
    const version = await this.next();
    if (version[0] !== 2) throw new Error(`expected VERSION, got packet type ${version[0]}`);
  }

  /** Sends a request with a fresh id and decodes its reply. */
  async request(type: number, ...fields: Buffer[]): Promise<Reply> {
    const id = this.nextId++;
    this.send(type, RawSftp.u32(id), ...fields);
    const packet = await this.next();
    if (packet.readUInt32BE(1) !== id)
      throw new Error(`reply for request ${packet.readUInt32BE(1)}, not ${id}`);
    return decode(packet);
  }

  /** OPENDIR, READDIR until EOF, CLOSE: the names, sorted by their bytes. */
  async list(path: string | Buffer): Promise<Buffer[] | Reply> {
    const opened = await this.request(11, RawSftp.str(path));
    if (opened.type !== "handle") return opened;
    const names: Buffer[] = [];
    for (;;) {
      const batch = await this.request(12, RawSftp.str(opened.handle));
      if (batch.type !== "name") break;
      names.push(...batch.names);
    }
    await this.request(4, RawSftp.str(opened.handle));
    return names.sort(Buffer.compare);
  }
}

function decode(packet: Buffer): Reply {
  let offset = 5;
  const string = (): Buffer => {
    const length = packet.readUInt32BE(offset);
    const bytes = packet.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    return bytes;
  };
  const skipAttrs = (): number | undefined => {
    const flags = packet.readUInt32BE(offset);
    offset += 4;
    let mode: number | undefined;
    if (flags & 1) offset += 8;
    if (flags & 2) offset += 8;
    if (flags & 4) {
      mode = packet.readUInt32BE(offset);
      offset += 4;
    }
    if (flags & 8) offset += 8;
    return mode;
  };
  switch (packet[0]) {
    case 101: {
      const code = packet.readUInt32BE(offset);
      offset += 4;
      return { type: "status", code, message: string().toString() };
    }
    case 102:
      return { type: "handle", handle: Buffer.from(string()) };
    case 103:
      return { type: "data", data: Buffer.from(string()) };
    case 104: {
      const count = packet.readUInt32BE(offset);
      offset += 4;
      const names: Buffer[] = [];
      for (let index = 0; index < count; index++) {
        names.push(Buffer.from(string()));
        string();
        skipAttrs();
      }
      return { type: "name", names };
    }
    case 105:
      return { type: "attrs", mode: skipAttrs() };
    default:
      return { type: "other", packetType: packet[0] as number };
  }
}
