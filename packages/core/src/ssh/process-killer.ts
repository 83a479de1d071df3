import type { ChannelSlots } from "./channels.js";
import { drainUntilClosed, openExec } from "./channels.js";
import type { SshConnection } from "./connection.js";

/**
 * Kills remote process groups. Closing a channel does not kill its process, and sshd refuses
 * `signal` requests for root logins, so the group is killed with `kill -KILL -- -PGID` on a
 * separate channel. sshd makes every exec a session leader, so the group holds the command's
 * children too. Kills requested together share one channel.
 */
export class ProcessKiller {
  private readonly pending = new Set<number>();
  private waiting: Array<() => void> = [];
  private scheduled = false;

  constructor(
    private readonly connection: SshConnection,
    private readonly slots: ChannelSlots,
  ) {}

  /** Kills the process group `pgid`; resolves once the kill command has run (or could not). */
  kill(pgid: number): Promise<void> {
    this.pending.add(pgid);
    const done = new Promise<void>((resolve) => this.waiting.push(resolve));
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => void this.flush());
    }
    return done;
  }

  private async flush(): Promise<void> {
    const release = await this.slots.control.acquire();
    const groups = [...this.pending];
    const waiting = this.waiting;
    this.pending.clear();
    this.waiting = [];
    this.scheduled = false;
    try {
      const client = await this.connection.get();
      const targets = groups.map((pgid) => `-${pgid}`).join(" ");
      const { channel } = await openExec(
        client,
        () => this.connection.isCurrent(client),
        `kill -KILL -- ${targets} 2>/dev/null; exit 0`,
      );
      channel.end();
      await drainUntilClosed(channel);
    } catch {
      // The connection is gone, so the processes' channels are gone too; nothing else to do.
    } finally {
      release();
      for (const resolve of waiting) resolve();
      if (this.pending.size > 0 && !this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => void this.flush());
      }
    }
  }
}
