import type { ChannelSlots } from "./channels.js";
import { ConnectionGone, drainUntilClosed, openExec } from "./channels.js";
import type { SshConnection } from "./connection.js";
import { buildKillCommand, type KillTarget, MAX_KILL_TARGETS } from "./remote-command.js";

/** The server refused the control channel; the kill goes over a connection of its own. */
class ControlRefused extends Error {}

/**
 * Kills remote process trees, and remembers every tree it still owes a kill (timed out,
 * aborted, or running when the connection was lost) until a kill command has run for it.
 *
 * Closing a channel does not kill its process, and sshd refuses `signal` requests for root
 * logins, so trees are killed by a command on a separate channel (see {@link buildKillCommand}).
 * Kills requested together share one channel. When the connection is down, the owed kills run
 * as soon as it is back (`onConnected`), and a failed kill asks for the reconnect itself, since
 * the processes keep running on the machine whether or not anyone calls again. When the server
 * refuses even the kept control channel (its session limit is full of the hung commands), the
 * kill runs over a short-lived spare connection, which has a session budget of its own.
 */
export class ProcessKiller {
  private readonly owed = new Map<string, KillTarget>();
  private flushing = false;
  private flushed: Promise<void> = Promise.resolve();
  private again = false;
  private spareFirst = false;
  private viaAgent: ((command: string) => Promise<boolean>) | undefined;

  constructor(
    private readonly connection: SshConnection,
    private readonly slots: ChannelSlots,
    private readonly spareConnection?: () => SshConnection,
  ) {
    connection.onConnected(() => this.schedule());
  }

  /**
   * Sends kills over a connection of their own first (the main one stays the fallback), for
   * servers whose connection breaks when a kill command's channel opens or closes beside a
   * starting command (Dropbear's issue 321): a server process per connection keeps the bug inside
   * one connection.
   */
  preferSpareConnection(): void {
    this.spareFirst = this.spareConnection !== undefined;
  }

  /**
   * Runs kill commands through the in-VM agent when it is in use (`run` resolves false when it
   * is not): no channel is needed, so a kill is never refused for want of a session.
   */
  useAgent(run: (command: string) => Promise<boolean>): void {
    this.viaAgent = run;
  }

  /** How many process trees still wait for their kill. */
  get pending(): number {
    return this.owed.size;
  }

  /** Kills `target` (now, or once a connection is back). */
  kill(target: KillTarget): void {
    this.remember(target);
    this.schedule();
  }

  /** Records `target` as owed a kill without starting one (the connection is known to be gone). */
  owe(target: KillTarget): void {
    this.remember(target);
  }

  private remember(target: KillTarget): void {
    const known = this.owed.get(target.tag);
    // A pid beats a tag-only target: it also catches a command that exec'd away its tag.
    if (known?.pid !== undefined && target.pid === undefined) return;
    this.owed.set(target.tag, target);
  }

  private schedule(): void {
    if (this.owed.size === 0) return;
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = true;
    this.flushed = new Promise<void>((resolve) => queueMicrotask(() => void this.flush().finally(resolve)));
  }

  /**
   * Resolves once every kill asked for so far has run (or cannot run), so that a sandbox that
   * closes right after asking for kills does not close the connection they travel on.
   */
  settled(): Promise<void> {
    return this.flushing ? this.flushed : Promise.resolve();
  }

  private async flush(): Promise<void> {
    // Owed kills are pending work even after the call that timed out has returned: a script that
    // ends right after a timeout must not exit before the kill command has run.
    const release = this.connection.hold();
    try {
      do {
        this.again = false;
        while (this.owed.size > 0) {
          const batch = [...this.owed.values()].slice(0, MAX_KILL_TARGETS);
          const outcome = await this.runKill(batch);
          if (outcome === "done" || outcome === "hopeless") {
            for (const target of batch)
              if (this.owed.get(target.tag) === target) this.owed.delete(target.tag);
          }
          if (outcome === "gone") {
            // Nothing left to kill with: the sandbox is closed or dead for good.
            this.owed.clear();
          }
        }
      } while (this.again);
    } finally {
      release();
      this.flushing = false;
    }
  }

  /** One kill command for `batch`: "done", "gone" (no connection will come back), or "hopeless". */
  private async runKill(batch: KillTarget[]): Promise<"done" | "gone" | "hopeless"> {
    const command = buildKillCommand(batch);
    if (this.viaAgent && (await this.viaAgent(command).catch(() => false))) return "done";
    if (this.spareFirst && (await this.killOnSpare(command)) === "done") return "done";
    for (;;) {
      const permit = await this.slots.acquireControl();
      let client: Awaited<ReturnType<SshConnection["get"]>>;
      try {
        try {
          client = await this.connection.get();
        } catch {
          return "gone";
        }
        try {
          const { channel } = await openExec(
            client,
            () => this.connection.isCurrent(client),
            command,
            undefined,
            // Refused: every server slot is taken (by the hung commands themselves, often).
            async () => {
              if (this.spareConnection) throw new ControlRefused();
            },
          );
          permit.opened();
          channel.end();
          await drainUntilClosed(channel);
          return "done";
        } catch (error) {
          if (error instanceof ControlRefused) return await this.killOnSpare(command);
          if (!(error instanceof ConnectionGone) && this.connection.isCurrent(client)) return "hopeless";
        }
      } finally {
        permit.release();
      }
      // The connection went away under the kill: reconnect (or learn that it is dead), then retry.
      const lost = await this.connection.lostError("killing a timed-out command", client);
      if (lost.code !== "connection_failed") return "gone";
    }
  }

  private async killOnSpare(command: string): Promise<"done" | "hopeless"> {
    const spare = this.spareConnection?.();
    if (!spare) return "hopeless";
    try {
      const client = await spare.get();
      const { channel } = await openExec(client, () => spare.isCurrent(client), command);
      channel.end();
      await drainUntilClosed(channel);
      return "done";
    } catch {
      // Refused here too, or unreachable: nothing more can be done for these processes.
      return "hopeless";
    } finally {
      spare.close();
    }
  }
}
