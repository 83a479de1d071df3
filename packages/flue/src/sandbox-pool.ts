import { type ExeDevSandbox, SandboxCache, SandboxError } from "@exedev-sandbox/core";
import { type Sandbox as FlueSandbox, sandboxFromDriver } from "@flue/runtime";
import { watchedDriver } from "./exedev-driver.js";
import { disposedError } from "./flue-errors.js";
import { withCore } from "./process-tools.js";

interface Live {
  core: ExeDevSandbox;
  flue: FlueSandbox;
}

/**
 * The sandboxes of one `exedev()` configuration, kept in core's `SandboxCache`. With `perId`,
 * every agent instance id gets its own (a VM per id); otherwise all ids share one connection to
 * the same VM. A sandbox found gone is dropped and released (its VM deleted if the pool made
 * it), and the next request gets a new one.
 */
export class SandboxPool {
  private readonly cache = new SandboxCache<Live>({ release: (live) => live.core.dispose() });
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
    if (this.disposed) throw disposedError();
    const key = this.perId ? id : "";
    const live = await this.cache.get(key, () => this.connect(key));
    if (this.disposed) throw disposedError();
    return live.flue;
  }

  /** Closes every connection and deletes every VM the pool created (per `cleanup`). Idempotent. */
  dispose(): Promise<void> {
    this.disposing ??= this.cache.closeAll({ cancelWork: true });
    return this.disposing;
  }

  private async connect(key: string): Promise<Live> {
    const core = await this.open();
    const live: Live = { core, flue: undefined as never };
    live.flue = withCore(
      sandboxFromDriver(
        watchedDriver(core, () => this.cache.drop(key, live)),
        core.homeDir,
      ),
      core,
    );
    return live;
  }
}

/** Waits for every release, then rejects with the one failure, or a `SandboxError` holding several. */
export async function settleAll(releases: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(releases);
  const failures = results.flatMap((result) => (result.status === "rejected" ? [result.reason] : []));
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    throw new SandboxError(
      "api_error",
      `${failures.length} exe.dev sandboxes could not be released; see cause.`,
      {
        cause: new AggregateError(failures),
        details: { failed: failures.length },
      },
    );
  }
}
