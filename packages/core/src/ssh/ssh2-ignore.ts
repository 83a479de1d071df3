import type { Client } from "ssh2";

/** The parts of ssh2's (1.x) `Protocol` that build and send a packet, as its own `ping()` does. */
export interface PacketInternals {
  /** Set while a key exchange is under way (packets are then queued, not sent). */
  _kexinit: unknown;
  _packetRW?: {
    write?: { allocStart?: number; alloc?(length: number): Buffer; finalize?(packet: Buffer): Buffer };
  };
  _cipher?: { encrypt?(packet: Buffer): void };
  /** ssh2's `debug` option, when given. */
  _debug?: (message: string) => void;
}

const SSH_MSG_IGNORE = 2;

/** The client's protocol object once `connect()` was called; undefined before. */
export function protocolOf<T>(client: Client): Partial<T> | undefined {
  const protocol = (client as unknown as { _protocol?: unknown })._protocol;
  return typeof protocol === "object" && protocol !== null ? (protocol as Partial<T>) : undefined;
}

/** Whether {@link sendIgnore} can work on this protocol object (ssh2's internals as expected). */
export function canSendIgnore(protocol: Partial<PacketInternals>): boolean {
  const write = protocol._packetRW?.write;
  return (
    "_kexinit" in protocol &&
    typeof write?.allocStart === "number" &&
    typeof write.alloc === "function" &&
    typeof write.finalize === "function" &&
    typeof protocol._cipher?.encrypt === "function"
  );
}

/**
 * Sends SSH_MSG_IGNORE (an empty string), which every SSH implementation accepts at any time.
 * Its use here: data from us carries the TCP acknowledgement of what the server sent at once,
 * where an idle socket would delay it (delayed ACK), and a server with Nagle's algorithm on
 * (sshd until the first session starts) holds its next packet until that acknowledgement.
 * Returns false, sending nothing, when ssh2's internals differ or a key exchange is under way.
 */
export function sendIgnore(protocol: Partial<PacketInternals>): boolean {
  if (protocol._kexinit !== undefined || !canSendIgnore(protocol)) return false;
  const write = protocol._packetRW?.write as Required<
    NonNullable<NonNullable<PacketInternals["_packetRW"]>["write"]>
  >;
  const start = write.allocStart;
  const packet = write.alloc(1 + 4);
  packet[start] = SSH_MSG_IGNORE;
  packet.writeUInt32BE(0, start + 1);
  protocol._debug?.("Outbound: Sending IGNORE");
  protocol._cipher?.encrypt?.(write.finalize(packet));
  return true;
}
