import { isSandboxError } from "../errors.js";
import type { SftpSession } from "./sftp-session.js";

/**
 * Temp files the sandbox still has to remove: a write that failed midway leaves its temp file,
 * and when the connection is what failed, the unlink cannot be sent until it is back. Paths are
 * kept until an unlink succeeds (or finds nothing), and tried again on every reconnect. Only
 * names the library made up go here (random temp names), so an unlink never hits a user's file.
 */
export class OwedUnlinks {
  private readonly owed = new Set<string>();
  private live = false;
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly session: SftpSession) {
    session.onConnected(() => {
      this.live = true;
      // Run after the reconnect's own caller got its client.
      setImmediate(() => void this.settle());
    });
    session.onLost(() => {
      this.live = false;
    });
  }

  /** How many unlinks are still owed. */
  get size(): number {
    return this.owed.size;
  }

  /** Removes `path` now if the connection is up, else on the next reconnect. */
  add(path: string): void {
    this.owed.add(path);
    if (this.live) void this.settle();
  }

  /** Sends the owed unlinks; resolves when this round is done (never rejects). */
  settle(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.round().finally(() => {
      this.running = undefined;
      if (this.again && this.live && this.owed.size > 0) {
        this.again = false;
        void this.settle();
      }
    });
    return this.running;
  }

  private async round(): Promise<void> {
    for (const path of [...this.owed]) {
      if (!this.live) return;
      try {
        // Idempotent: a repeat after a lost answer finds nothing, which also settles it.
        await this.session.call("unlink", (s, done) => s.unlink(path, done), { path });
        this.owed.delete(path);
      } catch (error) {
        if (isSandboxError(error, "not_found")) this.owed.delete(path);
        else if (isSandboxError(error, "connection_failed") || isSandboxError(error, "timeout")) return;
        else if (isSandboxError(error, "sandbox_died") || isSandboxError(error, "closed")) return;
        else this.owed.delete(path); // permission denied and the like: retrying will not help
      }
    }
  }
}
