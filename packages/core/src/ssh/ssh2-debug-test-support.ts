// Reading what went over the wire from ssh2's `debug` log, for tests that count messages
// instead of timing them (not part of the build).
import type { Client, ConnectConfig } from "ssh2";
import { afterEach, vi } from "vitest";
import { SshClient } from "./ssh2-runtime.js";

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * Records ssh2's debug log of every client that connects until the test ends: one line per
 * message sent ("Outbound: Sending ...") or received ("Inbound: ..."), in order.
 */
export function recordSsh2Debug(): string[] {
  const lines: string[] = [];
  const connect = SshClient.prototype.connect;
  vi.spyOn(SshClient.prototype, "connect").mockImplementation(function (this: Client, config: ConnectConfig) {
    return connect.call(this, { ...config, debug: (line: string) => lines.push(line) });
  });
  return lines;
}

/** Whether the line right after the first one starting with `after` is `line`. */
export function lineRightAfter(lines: string[], after: string, line: string): boolean {
  const index = lines.findIndex((candidate) => candidate.startsWith(after));
  return index !== -1 && lines[index + 1] === line;
}
