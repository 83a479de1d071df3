import { abortedError } from "./semaphore.js";

/** Most long-held channels at once beside a capped work pool (Dropbear allows 100 channels). */
const MAX_LONG_CHANNELS = 8;

interface Waiter {
  grant: () => void;
}

/**
 * A counting pool of channel permits whose capacity can shrink at run time, whose holders can be
 * asked to give a permit back (the idle SFTP session), and whose refused openers can step back
 * into the queue ahead of newcomers.
 */
export class SlotPool {
  private active = 0;
  private readonly waiters: Waiter[] = [];
  private readonly yieldable = new Set<() => void>();

  constructor(private limit: number) {}

  /** How many permits are held right now. */
  get inUse(): number {
    return this.active;
  }

  /** How many permits may be held at once. */
  get capacity(): number {
    return this.limit;
  }

  /** Lowers the capacity (never below 1). Holders over it keep their permits until released. */
  shrinkTo(limit: number): void {
    this.limit = Math.max(1, Math.min(this.limit, limit));
  }

  /** True while more permits are held than the capacity allows (after a shrink). */
  get overCapacity(): boolean {
    return this.active > this.limit;
  }

  /**
   * Waits for a permit and returns the function that gives it back (idempotent). With
   * `onYield`, the holder is asked (once) to give the permit back when someone else has to wait.
   */
  async acquire(signal?: AbortSignal, onYield?: () => void): Promise<() => void> {
    await this.wait(signal, false);
    let released = false;
    let asked = false;
    const ask = (): void => {
      if (asked) return;
      asked = true;
      onYield?.();
    };
    if (onYield) {
      this.yieldable.add(ask);
      // Someone queued while this holder was still waiting itself: they asked nobody (this
      // permit did not exist yet), so ask now, or they could wait behind an idle holder forever.
      if (this.waiters.length > 0) ask();
    }
    return () => {
      if (released) return;
      released = true;
      this.yieldable.delete(ask);
      this.handBack();
    };
  }

  /**
   * Gives a held permit back and waits for it again at the front of the queue: for an opener the
   * server refused while the pool is over its (just lowered) capacity, so it stops competing
   * with the kill channel for the server's last slot. The caller's release function stays valid.
   */
  async requeue(signal?: AbortSignal): Promise<void> {
    this.handBack();
    await this.wait(signal, true);
  }

  private async wait(signal: AbortSignal | undefined, front: boolean): Promise<void> {
    if (signal?.aborted) throw abortedError(signal);
    if (this.active < this.limit && (front || this.waiters.length === 0)) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(abortedError(signal));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (front) this.waiters.unshift(waiter);
      else this.waiters.push(waiter);
      for (const ask of [...this.yieldable]) ask();
    });
  }

  private handBack(): void {
    this.active--;
    while (this.active < this.limit) {
      const next = this.waiters.shift();
      if (!next) break;
      this.active++;
      next.grant();
    }
  }
}

/** A held channel slot: `opened()` once the server accepted the channel, `release()` once it closed. */
export interface ChannelPermit {
  opened(): void;
  release(): void;
}

/**
 * Channel slots of one connection. OpenSSH allows `MaxSessions` (default 10) channels and counts
 * the SFTP session as one; Dropbear and others have their own limits. One slot is kept for the
 * control channel that kills timed-out commands. The server's real limit is learned from its
 * refusals: work capacity shrinks to one below what the server accepts, so the kill slot stays
 * free on the server too, not only here. (When even that slot is refused, the killer uses a
 * connection of its own.)
 */
export class ChannelSlots {
  /** Slots for exec channels and the SFTP session. */
  readonly work: SlotPool;
  /** The slot for kill commands. */
  readonly control: SlotPool = new SlotPool(1);
  /** The SFTP session's own slot, when it must not share (see {@link separateSftp}). */
  private sftpOwn: SlotPool | undefined;
  /** Long-held channels' own slots, when the work pool is capped (see {@link acquireLong}). */
  private longOwn: SlotPool | undefined;
  /** Channels the server accepted that are not closed yet. */
  private open = 0;
  /** Counts channel closes, so a refusal can tell whether anything closed since the last one. */
  private closes = 0;

  constructor(maxChannels: number) {
    this.work = new SlotPool(maxChannels - 1);
  }

  /** A permit for an exec channel. */
  async acquireWork(signal?: AbortSignal): Promise<ChannelPermit> {
    return this.permit(await this.work.acquire(signal));
  }

  /**
   * A permit for the SFTP session. `onYield` is called when an exec has to wait for a slot: the
   * session should then close as soon as it is idle, so a small limit can never deadlock.
   */
  async acquireSftp(onYield: () => void): Promise<ChannelPermit> {
    if (this.sftpOwn) return this.permit(await this.sftpOwn.acquire());
    return this.permit(await this.work.acquire(undefined, onYield));
  }

  /**
   * Gives the SFTP session a slot of its own that it never yields, and commands `commands` work
   * slots: for servers on which a subsystem's process exiting beside a starting command breaks
   * the connection (Dropbear's issue 321), the session must not close to make room.
   */
  separateSftp(commands: number): void {
    this.work.shrinkTo(commands);
    this.sftpOwn ??= new SlotPool(1);
    this.longOwn ??= new SlotPool(MAX_LONG_CHANNELS);
  }

  /**
   * A permit for a channel held for a long time (a live command: the process host, a shell
   * session, a terminal). From the work pool, except on a server whose work channels are capped
   * to one (see {@link separateSftp}): there such a channel would starve every command, so it
   * gets a slot of its own beside the pool. The capped server's race needs a command's child to
   * exit beside a pending exec; a long-lived command's shell does not exit while it is held.
   */
  async acquireLong(signal?: AbortSignal): Promise<ChannelPermit> {
    if (this.longOwn) return this.permit(await this.longOwn.acquire(signal));
    return this.permit(await this.work.acquire(signal));
  }

  /** The permit for a kill command. */
  async acquireControl(): Promise<ChannelPermit> {
    return this.permit(await this.control.acquire());
  }

  /** The most work channels this connection uses at once, as currently known. */
  get workCapacity(): number {
    return this.work.capacity;
  }

  /**
   * A handler for refused opens of a work channel (see {@link openChannel}). A refusal can be
   * transient (OpenSSH frees a closed channel's slot a moment after the close), so the limit is
   * only learned when the same opener is refused twice with no channel closed in between.
   */
  onWorkRefused(signal?: AbortSignal): () => Promise<void> {
    let closesAtLastRefusal: number | undefined;
    return async () => {
      if (closesAtLastRefusal === this.closes && this.open >= 1) {
        // The server holds `open` channels of ours and refuses one more: one of those is the
        // kill slot, the rest is work.
        this.work.shrinkTo(this.open - 1);
      }
      closesAtLastRefusal = this.closes;
      if (this.work.overCapacity) await this.work.requeue(signal);
    };
  }

  private permit(release: () => void): ChannelPermit {
    let opened = false;
    let released = false;
    return {
      opened: () => {
        if (opened || released) return;
        opened = true;
        this.open++;
      },
      release: () => {
        if (released) return;
        released = true;
        if (opened) this.open--;
        this.closes++;
        release();
      },
    };
  }
}
