// Where ssh2's server-side SFTP falls short of OpenSSH's sftp-server, this module steps in
// between the channel and ssh2's packet parser. It relies on internals of ssh2 1.17
// (`SFTP#push`, `_version`, `outgoing`, `_buffer`, `_protocol`); `attachSftpWire` checks that
// they are there and otherwise leaves ssh2 alone, which only loses the extras below.
//
// 1. ssh2 answers INIT with a fixed VERSION packet that lists no extensions, so clients never
//    use `posix-rename@openssh.com` and friends. Here INIT is answered with the list.
// 2. ssh2 treats an unknown request type or a malformed request as fatal and closes the
//    channel. OpenSSH answers unknown requests with SSH_FX_OP_UNSUPPORTED; here malformed ones
//    get SSH_FX_BAD_MESSAGE too, and the session goes on.
// 3. ssh2 has no way to send an EXTENDED_REPLY, which `limits@openssh.com` needs, nor an exit
//    status for an SFTP channel, which `scp` checks when the session ends.
import type { SFTPWrapper } from "ssh2";
import ssh2 from "ssh2";

const { STATUS_CODE } = ssh2.utils.sftp;

const INIT = 1;
const VERSION = 2;
const EXTENDED_REPLY = 201;
/** Request types ssh2's server parses: INIT, OPEN … SYMLINK, EXTENDED. */
const KNOWN_REQUESTS = new Set([1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 200]);
/** ssh2's own limit on an incoming SFTP packet (and OpenSSH's). */
export const MAX_PACKET_BYTES: number = 256 * 1024;

interface SftpInternals {
  push(data: Buffer | null): unknown;
  destroy(): void;
  _version: number;
  _extensions: Record<string, string>;
  _buffer: unknown[];
  _protocol: { channelData(id: number, data: Buffer): void; exitStatus(id: number, status: number): void };
  outgoing: { id: number; window: number; packetSize: number; state: string };
}

function internalsOf(sftp: SFTPWrapper): SftpInternals | undefined {
  const candidate = sftp as unknown as Partial<SftpInternals>;
  const ok =
    typeof candidate.push === "function" &&
    typeof candidate.destroy === "function" &&
    candidate._version === -1 &&
    Array.isArray(candidate._buffer) &&
    typeof candidate._protocol?.channelData === "function" &&
    typeof candidate._protocol?.exitStatus === "function" &&
    typeof candidate.outgoing?.window === "number";
  return ok ? (candidate as SftpInternals) : undefined;
}

function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value) : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function packet(type: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat([Buffer.from([type]), ...parts]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

/** Raw SFTP replies that ssh2 cannot build, for one session. */
export interface SftpWire {
  /** Sends an EXTENDED_REPLY; false when it could not be sent now (the caller answers otherwise). */
  extendedReply(requestId: number, payload: Buffer): boolean;
  /** Sends the channel's exit status, as sshd does when sftp-server exits. */
  exitStatus(status: number): void;
}

/** Options for {@link attachSftpWire}. */
export interface SftpWireOptions {
  /** Extensions to list in VERSION, by name, with their version strings. */
  extensions: Readonly<Record<string, string>>;
  /** Called for every packet the client sends (for idle tracking). */
  onRequest(): void;
}

/**
 * Takes over packet framing for a server-mode SFTP session (see the notes at the top of this
 * file). Call it right after accepting the subsystem, before any data arrives.
 * @returns undefined when ssh2's internals are not as expected (nothing was changed).
 */
export function attachSftpWire(sftp: SFTPWrapper, options: SftpWireOptions): SftpWire | undefined {
  const internals = internalsOf(sftp);
  if (!internals) return undefined;
  const originalPush = internals.push;
  const parse = (data: Buffer | null): unknown => originalPush.call(sftp, data);
  // ssh2 emits protocol errors as 'error'; with no listener that would throw.
  sftp.on("error", () => {});

  const sendRaw = (bytes: Buffer): boolean => {
    const out = internals.outgoing;
    // Only when nothing is queued and the window takes it whole: anything else would need
    // ssh2's private queueing. At the start of a session (VERSION, limits) this always holds.
    if (out.state !== "open" || internals._buffer.length > 0) return false;
    if (out.window < bytes.length || bytes.length > out.packetSize) return false;
    out.window -= bytes.length;
    internals._protocol.channelData(out.id, bytes);
    return true;
  };

  const answerInit = (init: Buffer): boolean => {
    const version = init.readUInt32BE(5);
    const extensions = Object.entries(options.extensions).flatMap(([name, data]) => [
      sshString(name),
      sshString(data),
    ]);
    const versionBytes = Buffer.alloc(4);
    versionBytes.writeUInt32BE(3);
    if (!sendRaw(packet(VERSION, versionBytes, ...extensions))) return false;
    internals._version = version;
    internals._extensions = {};
    sftp.emit("ready");
    return true;
  };

  const requestIdOf = (bytes: Buffer): number | undefined =>
    bytes.length >= 9 ? bytes.readUInt32BE(5) : undefined;

  const dispatch = (bytes: Buffer): void => {
    options.onRequest();
    const type = bytes[4] as number;
    if (internals._version === -1) {
      // Before INIT only INIT is valid; ssh2 closes the session on anything else.
      if (!(type === INIT && bytes.length >= 9 && answerInit(bytes))) parse(bytes);
      return;
    }
    if (!KNOWN_REQUESTS.has(type)) {
      const id = requestIdOf(bytes);
      if (id !== undefined) sftp.status(id, STATUS_CODE.OP_UNSUPPORTED, "Operation unsupported");
      return;
    }
    // ssh2 closes the channel after reporting a malformed request; hold that back during the
    // call and answer the request with a status instead.
    let malformed = false;
    const onError = (): void => {
      malformed = true;
    };
    const destroy = internals.destroy;
    internals.destroy = () => {};
    sftp.prependListener("error", onError);
    try {
      parse(bytes);
    } finally {
      internals.destroy = destroy;
      sftp.removeListener("error", onError);
    }
    const id = requestIdOf(bytes);
    if (malformed && id !== undefined) sftp.status(id, STATUS_CODE.BAD_MESSAGE, "Bad message");
  };

  let chunks: Buffer[] = [];
  let buffered = 0;
  let expected: number | undefined;
  const header = (): number => {
    const first = chunks[0] as Buffer;
    return (first.length >= 4 ? first : Buffer.concat(chunks)).readUInt32BE(0);
  };
  internals.push = (data: Buffer | null): unknown => {
    if (data === null) return parse(null);
    chunks.push(data);
    buffered += data.length;
    for (;;) {
      if (expected === undefined) {
        if (buffered < 4) return undefined;
        const length = header();
        if (length === 0 || length > MAX_PACKET_BYTES) {
          // Framing is lost for good; OpenSSH's sftp-server exits here too.
          chunks = [];
          buffered = 0;
          internals.destroy();
          return undefined;
        }
        expected = 4 + length;
      }
      if (buffered < expected) return undefined;
      const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, buffered);
      const next = all.subarray(0, expected);
      const rest = all.subarray(expected);
      chunks = rest.length > 0 ? [rest] : [];
      buffered = rest.length;
      expected = undefined;
      dispatch(next);
    }
  };

  return {
    extendedReply: (requestId, payload) => {
      const id = Buffer.alloc(4);
      id.writeUInt32BE(requestId);
      return sendRaw(packet(EXTENDED_REPLY, id, payload));
    },
    exitStatus: (status) => {
      if (internals.outgoing.state === "open") internals._protocol.exitStatus(internals.outgoing.id, status);
    },
  };
}

/** Reads SSH strings from an EXTENDED request's data. */
export function readStrings(data: Buffer | undefined, count: number): Buffer[] | undefined {
  if (!data) return undefined;
  const strings: Buffer[] = [];
  let offset = 0;
  for (let index = 0; index < count; index++) {
    if (offset + 4 > data.length) return undefined;
    const length = data.readUInt32BE(offset);
    offset += 4;
    if (offset + length > data.length) return undefined;
    strings.push(data.subarray(offset, offset + length));
    offset += length;
  }
  return strings;
}
