import type { Client, SFTPWrapper } from "ssh2";
import { SandboxError } from "../errors.js";
import { ConnectionGone, openChannel } from "./channels.js";

/** ssh2's channel table; it has no public accessor. */
interface ChannelTable {
  _channels: Record<number, unknown>;
}

function channelTable(client: Client): ChannelTable | undefined {
  const table = (client as unknown as { _chanMgr?: ChannelTable })._chanMgr;
  return table && typeof table._channels === "object" ? table : undefined;
}

/** Closes the channel ssh2 keeps under `id`, if it is an open channel. */
function closeChannel(client: Client, id: number | undefined): void {
  if (id === undefined) return;
  const channel = channelTable(client)?._channels[id] as { destroy?: () => void } | undefined;
  // Until the server confirms the open, the table holds ssh2's callback (a function), not a
  // channel. For an SFTP channel `destroy` sends CHANNEL_CLOSE (its `close` closes a file handle).
  if (!channel || typeof channel !== "object" || typeof channel.destroy !== "function") return;
  try {
    channel.destroy();
  } catch {
    // The connection is going away; so is the channel.
  }
}

/** ssh2's message when the server refused the `subsystem` request. */
const SUBSYSTEM_REFUSED = /Unable to start subsystem/;
/** ...or when the subsystem started but ended before the SFTP handshake (e.g. `/bin/false`). */
const NO_SFTP =
  /Unable to start subsystem|while establishing SFTP session|unexpected SFTP session termination/;

/**
 * Opens an SFTP session on `client` within `timeoutMs` (0: no deadline). ssh2 leaves the session
 * channel open when the server refuses the subsystem, and never gives up on a server that does
 * not answer the SFTP `INIT`; both would keep a server session (`MaxSessions`) for as long as the
 * connection lives, so the channel is closed here in either case. A server without SFTP is
 * `unsupported`; no answer in time is `timeout`. Throws {@link ConnectionGone} when the
 * connection went away.
 */
export function openSftp(client: Client, isCurrent: () => boolean, timeoutMs: number): Promise<SFTPWrapper> {
  return new Promise<SFTPWrapper>((resolve, reject) => {
    let settled = false;
    let channelId: number | undefined;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            settled = true;
            closeChannel(client, channelId);
            reject(
              new SandboxError("timeout", `Opening the SFTP session got no answer within ${timeoutMs} ms.`, {
                details: { operation: "open SFTP session", timeoutMs },
              }),
            );
          }, timeoutMs)
        : undefined;
    const finish = (): boolean => {
      clearTimeout(timer);
      if (settled) return false;
      settled = true;
      return true;
    };
    openChannel<SFTPWrapper>(isCurrent, (callback) => {
      const before = new Set(Object.keys(channelTable(client)?._channels ?? {}));
      client.sftp((error, sftp) => {
        if (!error && settled) sftp.end(); // answered after the deadline: nobody wants it
        if (error && SUBSYSTEM_REFUSED.test(error.message)) closeChannel(client, channelId);
        callback(error, sftp);
      });
      // client.sftp reserves the channel id synchronously; remember it to close it later.
      for (const key of Object.keys(channelTable(client)?._channels ?? {})) {
        if (!before.has(key)) channelId = Number(key);
      }
    }).then(
      (sftp) => {
        if (finish()) resolve(sftp);
      },
      (error: unknown) => {
        if (!finish()) return;
        if (error instanceof ConnectionGone) reject(error);
        else if (NO_SFTP.test((error as Error)?.message ?? "")) reject(unsupportedSftp(error));
        else reject(error);
      },
    );
  });
}

function unsupportedSftp(cause: unknown): SandboxError {
  return new SandboxError(
    "unsupported",
    "The SSH server has no SFTP subsystem, which file operations need; enable one (OpenSSH: `Subsystem sftp internal-sftp`).",
    { cause, retryable: false, details: { operation: "open SFTP session" } },
  );
}
