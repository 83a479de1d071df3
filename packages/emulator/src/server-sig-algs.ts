// ssh2 1.17 sends a broken `server-sig-algs` extension (RFC 8308): a missing comma glues
// "ecdsa-sha2-nistp521" and "rsa-sha2-512" into one name, so a client that may sign only with
// rsa-sha2-512 (or ECDSA P-521) finds it unlisted and gives up, where OpenSSH's sshd lets it
// in. This module rewrites that one packet on its way out. It relies on ssh2's internals
// (`_protocol._packetRW.write` with `allocStart`, `alloc` and `finalize`) and leaves a
// connection alone when they are not there.
import type { Connection } from "ssh2";

const EXT_INFO = 7;
const PATCHED = Symbol("server-sig-algs patched");

/** What the gateway verifies (see ssh-gateway.ts), in OpenSSH's order of preference. */
const SERVER_SIG_ALGS = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
].join(",");

interface PacketWriter {
  allocStart: number;
  alloc(size: number, force?: boolean): Buffer;
  finalize(packet: Buffer, force?: boolean): Buffer;
  [PATCHED]?: true;
}

const sshString = (value: Buffer): Buffer => {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(value.length);
  return Buffer.concat([length, value]);
};

/** The EXT_INFO payload with `server-sig-algs` replaced; undefined when it is not well formed. */
function rewrite(payload: Buffer): Buffer | undefined {
  let offset = 1;
  const read = (): Buffer | undefined => {
    if (offset + 4 > payload.length) return undefined;
    const length = payload.readUInt32BE(offset);
    if (offset + 4 + length > payload.length) return undefined;
    const value = payload.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    return value;
  };
  if (payload.length < 5) return undefined;
  const count = payload.readUInt32BE(offset);
  offset += 4;
  const parts: Buffer[] = [payload.subarray(0, 5)];
  for (let index = 0; index < count; index++) {
    const name = read();
    const value = read();
    if (!name || !value) return undefined;
    const fixed = name.toString("latin1") === "server-sig-algs" ? Buffer.from(SERVER_SIG_ALGS) : value;
    parts.push(sshString(name), sshString(fixed));
  }
  return Buffer.concat(parts);
}

function patch(writer: PacketWriter | undefined): PacketWriter | undefined {
  if (
    !writer ||
    writer[PATCHED] ||
    typeof writer.finalize !== "function" ||
    typeof writer.alloc !== "function"
  )
    return writer;
  const finalize = writer.finalize;
  writer.finalize = function (this: PacketWriter, packet: Buffer, force?: boolean): Buffer {
    const start = this.allocStart;
    if (!force && typeof start === "number" && packet[start] === EXT_INFO) {
      const payload = rewrite(packet.subarray(start));
      if (payload) {
        const fresh = this.alloc(payload.length);
        payload.copy(fresh, start);
        return finalize.call(this, fresh, force);
      }
    }
    return finalize.call(this, packet, force);
  };
  writer[PATCHED] = true;
  return writer;
}

/** Makes `connection` advertise the signature algorithms it accepts correctly (see above). */
export function fixServerSigAlgs(connection: Connection): void {
  const rw = (connection as unknown as { _protocol?: { _packetRW?: { write?: PacketWriter } } })._protocol
    ?._packetRW;
  if (!rw || typeof rw !== "object") return;
  // ssh2 swaps the writer when compression starts; every writer it installs gets the fix.
  let writer = patch(rw.write);
  Object.defineProperty(rw, "write", {
    configurable: true,
    enumerable: true,
    get: () => writer,
    set: (next: PacketWriter) => {
      writer = patch(next);
    },
  });
}
