import { constants } from "node:os";
import type { Client, ClientChannel, ExecOptions } from "ssh2";
import { SandboxError } from "../errors.js";
import { abortedError, sleep } from "./semaphore.js";

/** How long a refused channel open keeps being retried before it is reported. */
const OPEN_RETRY_WINDOW_MS = 60_000;

export { ChannelSlots } from "./channel-slots.js";

/** The connection went away while opening a channel; the caller decides what that means. */
export class ConnectionGone extends Error {}

export function isOpenRefusal(error: unknown): boolean {
  // ssh2 sets `reason` (an SSH_OPEN_* code) on CHANNEL_OPEN_FAILURE; OpenSSH answers
  // "open failed" (reason 2) when MaxSessions is reached, including the short window after a
  // channel closed during which the server has not freed its slot yet.
  return typeof (error as { reason?: unknown })?.reason === "number";
}

/** How often a refused exec request (the channel opened, the command did not start) is retried. */
const EXEC_REFUSAL_RETRIES = 5;

/**
 * ssh2's error when the server refused the exec request on an open channel (CHANNEL_FAILURE, or
 * a close before any answer). The command never started, so asking again is safe. Dropbear before
 * 2024.86 does this under concurrency (it closes a channel whose exec is pending when another
 * command's child exits: dropbear issue 321).
 */
function isExecRefusal(error: unknown): boolean {
  return (error as Error)?.message === "Unable to exec" && !isOpenRefusal(error);
}

/**
 * Opens a channel with `open`, retrying the server's refusals with a short backoff. Refusals are
 * expected under load (see ChannelSlots) and never surface unless they last a whole minute.
 * `onRefused` runs after each refusal, before the retry (to learn the server's limit, or to give
 * up by throwing).
 */
export async function openChannel<T>(
  isCurrent: () => boolean,
  open: (callback: (error: Error | undefined, channel: T) => void) => void,
  signal?: AbortSignal,
  onRefused?: () => Promise<void>,
): Promise<T> {
  const deadline = Date.now() + OPEN_RETRY_WINDOW_MS;
  let execRefusals = 0;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw abortedError(signal);
    if (!isCurrent()) throw new ConnectionGone("connection lost before the channel opened");
    try {
      return await new Promise<T>((resolve, reject) => {
        try {
          open((error, channel) => (error ? reject(error) : resolve(channel)));
        } catch (error) {
          // ssh2 throws synchronously ("Not connected") once the client has closed.
          reject(new ConnectionGone((error as Error).message));
        }
      });
    } catch (error) {
      if (error instanceof ConnectionGone) throw error;
      // ssh2 fails pending opens ("Unable to exec") while it tears a dying connection down.
      if (!isCurrent()) throw new ConnectionGone((error as Error).message);
      if (isExecRefusal(error) && execRefusals++ < EXEC_REFUSAL_RETRIES) {
        await sleep(5 * execRefusals + Math.random() * 5);
        continue;
      }
      if (!isOpenRefusal(error) || Date.now() > deadline) {
        throw new SandboxError(
          "channel_failed",
          `The SSH server refused to open a channel: ${(error as Error).message}.`,
          {
            cause: error,
          },
        );
      }
      if (!isCurrent()) throw new ConnectionGone("connection lost while opening a channel");
      await onRefused?.();
      await sleep(Math.min(5 * attempt, 200) + Math.random() * 5);
    }
  }
}

/** An exec channel whose exit status is recorded from the moment it opens. */
export interface ExecChannel {
  channel: ClientChannel;
  /** The exit status (128 + n for signal n), once the server sent it. */
  exitCode(): number | undefined;
}

function exitCodeOf(code: number | null | undefined, signalName: string | undefined): number | undefined {
  if (typeof code === "number") return code;
  if (signalName) return 128 + ((constants.signals as Record<string, number>)[signalName] ?? 0);
  return undefined;
}

/**
 * Opens an exec channel (retrying refusals). The exit listener is attached inside ssh2's
 * callback: for a fast command, ssh2 can parse exec-success, exit-status and close from one
 * socket read, so a listener attached after an `await` would miss the status. `execOptions` go
 * to ssh2's `exec` (a terminal's `pty` request).
 */
export function openExec(
  client: Client,
  isCurrent: () => boolean,
  command: string,
  signal?: AbortSignal,
  onRefused?: () => Promise<void>,
  execOptions: ExecOptions = {},
): Promise<ExecChannel> {
  return openChannel<ExecChannel>(
    isCurrent,
    (callback) =>
      client.exec(command, execOptions, (error, channel) => {
        if (error) {
          callback(error, undefined as never);
          return;
        }
        let code: number | undefined;
        channel.on("exit", (status: number | null, signalName?: string) => {
          code = exitCodeOf(status, signalName);
        });
        callback(undefined, { channel, exitCode: () => code });
      }),
    signal,
    onRefused,
  );
}

/** Waits for a channel to close, draining its output so that `close` can fire. */
export function drainUntilClosed(channel: ClientChannel): Promise<void> {
  return new Promise((resolve) => {
    channel.on("data", () => {});
    channel.stderr.on("data", () => {});
    channel.once("close", () => resolve());
  });
}
