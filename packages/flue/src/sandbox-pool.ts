import type { ExeDevSandbox } from "@exedev-sandbox/core";
import { type Sandbox as FlueSandbox, sandboxFromDriver } from "@flue/runtime";
import { watchedDriver } from "./exedev-driver.js";
import { disposedError } from "./flue-errors.js";

interface Live {
  core: ExeDevSandbox;
  flue: FlueSandbox;
  /** Set once any call saw the sandbox gone for good; the next request then gets a new one. */
  gone: boolean;
}

/**
 * The sandboxes of one `exedev()` configuration. With `perId`, every agent instance id gets its
 * own (a VM per id); otherwise all ids share one connection to the same VM. A sandbox found gone
 * is replaced on the next request, and the old one released (its VM deleted if the pool made it).
 */
export class SandboxPool {
  private readonly slots = new Map<string, Promise<Live>>();
  private readonly retired = new Set<Promise<void>>();
  private disposing: Promise<void> | undefined;

  constructor(
    private readonly open: () => Promise<ExeDevSandbox>,
    private readonly perId: boolean,
  ) {}

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.disposing !== undefined;
  }

  /** The Flue sandbox for agent instance `id`: the cached one while it lives, else a new one. */
  async sandbox(id: string): Promise<FlueSandbox> {
    for (;;) {
      if (this.disposed) throw disposedError();
      const slot = this.perId ? id : "";
      let pending = this.slots.get(slot);
      if (!pending) {
        pending = this.connect();
        this.slots.set(slot, pending);
        const mine = pending;
        // A failed connect is not cached: the next request tries again.
        mine.catch(() => {
          if (this.slots.get(slot) === mine) this.slots.delete(slot);
        });
      }
      const live = await pending;
      if (this.disposed) throw disposedError();
      if (!live.gone) return live.flue;
      if (this.slots.get(slot) === pending) {
        this.slots.delete(slot);
        this.retire(live);
      }
    }
  }

  /** Closes every connection and deletes every VM the pool created (per `cleanup`). Idempotent. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      const releases = [...this.slots.values()].map((pending) =>
        pending.then(
          (live) => live.core.dispose(),
          () => {}, // it never connected, so there is nothing to release
        ),
      );
      this.slots.clear();
      await settleAll([...releases, ...this.retired]);
    })();
    return this.disposing;
  }

  private async connect(): Promise<Live> {
    const core = await this.open();
    const live: Live = { core, gone: false, flue: undefined as never };
    live.flue = sandboxFromDriver(
      watchedDriver(core, () => {
        live.gone = true;
      }),
      core.homeDir,
    );
    return live;
  }

  /** Releases a gone sandbox now; `dispose()` reports whether that worked. */
  private retire(live: Live): void {
    const release: Promise<void> = live.core.dispose().then(() => {
      this.retired.delete(release); // only failures wait for dispose() to report them
    });
    release.catch(() => {});
    this.retired.add(release);
  }
}

/** Waits for every release, then rejects with the one failure, or an `AggregateError` for several. */
export async function settleAll(releases: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(releases);
  const failures = results.flatMap((result) => (result.status === "rejected" ? [result.reason] : []));
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1)
    throw new AggregateError(failures, "Some exe.dev sandboxes could not be released.");
}
