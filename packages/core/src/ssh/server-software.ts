import type { Client } from "ssh2";
import { SandboxError } from "../errors.js";

/** The server's software version from its SSH banner (e.g. `OpenSSH_9.2p1`, `dropbear_2022.83`). */
export function serverSoftwareOf(client: Client): string | undefined {
  // ssh2 keeps it here once the banner has been read; it has no public accessor.
  return (client as unknown as { _remoteVer?: string })._remoteVer;
}

/**
 * The error for a server this library cannot work with, or undefined. tinysshd allows one
 * session channel per connection and ends the connection when that channel closes, so a
 * sandbox (one connection, many channels) would fail every call after the first with a
 * misleading `connection_failed`; saying so at connect time is the honest answer.
 */
export function unsupportedServerError(software: string | undefined): SandboxError | undefined {
  if (!/^tinyssh/i.test(software ?? "")) return undefined;
  return new SandboxError(
    "unsupported",
    "The SSH server is tinysshd, which allows only one channel per connection; this sandbox needs several (use OpenSSH or Dropbear).",
    { details: { serverSoftware: software } },
  );
}

/**
 * How many work channels (commands and the SFTP session) a server can take at once without
 * failing, when that is fewer than the options allow; undefined when it has no such bug.
 * Dropbear releases before 2025.87 close a channel whose exec or subsystem request is pending
 * when another command's child exits, and sometimes abort on an assertion and drop the whole
 * connection (upstream issue 321). Measured on 2022.83: 100 concurrent commands over 10 channels
 * lost 40–70 % of them and crashed the server 8 times in 5 rounds; over one work channel (plus
 * the kill channel) 300 of 300 succeeded. Correct but serial beats fast and lossy. Any child
 * exiting trips it, so the SFTP session then keeps a slot of its own instead of closing to make
 * room for a command (its `sftp-server` would exit beside the command's start), and kill commands
 * go over a connection of their own (Dropbear runs one process per connection, so the bug stays
 * inside one).
 */
export function workChannelCapFor(software: string | undefined): number | undefined {
  const version = /^dropbear_(\d+)\.(\d+)/i.exec(software ?? "");
  if (!version) return undefined;
  const [year, release] = [Number(version[1]), Number(version[2])];
  return year < 2025 || (year === 2025 && release < 87) ? 1 : undefined;
}
