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
