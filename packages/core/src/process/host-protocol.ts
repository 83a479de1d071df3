// The client side of the process host's frame types; PROCESSES.md beside this file is the
// reference. Framing and field encodings are the agent's (agent/protocol.ts).

/** The protocol version this client speaks (HELLO's `version`). */
export const HOST_PROTOCOL_VERSION = 1;

/** Frame types, client → host. */
export const HostRequest = {
  SPAWN: 0x01,
  FOLLOW: 0x02,
  UNFOLLOW: 0x03,
  INPUT: 0x04,
  CLOSE_STDIN: 0x05,
  SIGNAL: 0x06,
  LIST: 0x07,
  PING: 0x08,
} as const;

/** Frame types, host → client. */
export const HostReply = {
  HELLO: 0x80,
  STARTED: 0x81,
  INFO: 0x82,
  OUT: 0x83,
  ERROUT: 0x84,
  EXITED: 0x85,
  ENTRY: 0x86,
  OK: 0x87,
  ERR: 0x88,
  FATAL: 0x89,
} as const;

/** A request type. */
export type HostRequestType = (typeof HostRequest)[keyof typeof HostRequest];

/** Bits of INFO's and ENTRY's `flags`. */
export const ProcessFlag = { DETACHED: 1, ENDED: 2, TIMED_OUT: 4 } as const;

/** SPAWN's `flags` bit for a detached process. */
export const SPAWN_DETACHED = 1;

/** How an EXITED or ENTRY says the process ended. */
export const ExitKind = { CODE: 0, SIGNAL: 1, UNKNOWN: 2 } as const;

/** Largest stdin chunk per INPUT frame: one agent INPUT frame carries a whole host frame. */
export const HOST_INPUT_CHUNK_BYTES: number = 192 * 1024;

/** A process id as PROCESSES.md allows it (1 to 64 of `[A-Za-z0-9_-]`). */
export const PROCESS_ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,64}$/;

/** The exit code of an ended process (128 + n for signal n), or undefined when unknown. */
export function exitCodeOf(kind: number, value: number): number | undefined {
  if (kind === ExitKind.CODE) return value;
  if (kind === ExitKind.SIGNAL) return 128 + value;
  return undefined;
}
