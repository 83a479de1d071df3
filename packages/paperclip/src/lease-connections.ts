import { type ExeDevSandbox, isSandboxError } from "@exedev-sandbox/core";

interface Entry {
  sandbox: Promise<ExeDevSandbox>;
  work: Set<Promise<unknown>>;
}

/**
 * The worker's open SSH connections, one per lease (VM), so that consecutive hooks of a run share
 * one connection instead of dialling again. A connection that died is dropped and re-dialled on
 * the next use.
 */
export class LeaseConnections {
  private readonly entries = new Map<string, Entry>();

  /** Caches a sandbox just created for a lease. */
  remember(key: string, sandbox: ExeDevSandbox): void {
    const previous = this.entries.get(key);
    this.entries.set(key, { sandbox: Promise.resolve(sandbox), work: previous?.work ?? new Set() });
    if (previous) {
      void previous.sandbox.then((old) => (old === sandbox ? undefined : old.close())).catch(() => {});
    }
  }

  /** Runs `work` on the lease's connection, dialling it with `connect` when none is open. */
  async use<T>(
    key: string,
    connect: () => Promise<ExeDevSandbox>,
    work: (sandbox: ExeDevSandbox) => Promise<T>,
  ): Promise<T> {
    let entry = this.entries.get(key);
    if (!entry) {
      const dialled: Entry = { sandbox: connect(), work: new Set() };
      this.entries.set(key, dialled);
      dialled.sandbox.catch(() => this.forget(key, dialled));
      entry = dialled;
    }
    const sandbox = await entry.sandbox;
    const running = work(sandbox);
    entry.work.add(running);
    try {
      return await running;
    } catch (error) {
      if (isSandboxError(error, "sandbox_died") || isSandboxError(error, "closed")) this.forget(key, entry);
      throw error;
    } finally {
      entry.work.delete(running);
    }
  }

  /** Closes the lease's connection, after its running work settles unless `cancelWork` is set. */
  async close(key: string, options: { cancelWork?: boolean } = {}): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    if (!options.cancelWork) await Promise.allSettled([...entry.work]);
    const sandbox = await entry.sandbox.catch(() => undefined);
    await sandbox?.close();
  }

  /** Closes every connection (worker shutdown). */
  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.entries.keys()].map((key) => this.close(key, { cancelWork: true })));
  }

  private forget(key: string, entry: Entry): void {
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    void entry.sandbox.then((sandbox) => sandbox.close()).catch(() => {});
  }
}
