import { armExitCleanup, disarmExitCleanup } from "./exit-cleanup.js";
import { type SandboxPool, settleAll } from "./sandbox-pool.js";

/** Every live pool of this process, by configuration key (see `configKey`). */
const pools = new Map<string, SandboxPool>();
/** Pools whose VMs are deleted when the process is about to exit, with their keys. */
const deleteOnExit = new Map<SandboxPool, string>();
let exitHooked = false;

/** The live pool for `key`, made with `make` when there is none (or it was disposed). */
export function poolFor(key: string, make: () => SandboxPool, cleanupOnExit: boolean): SandboxPool {
  let pool = pools.get(key);
  if (pool && !pool.disposed) return pool;
  pool = make();
  pools.set(key, pool);
  if (cleanupOnExit) {
    deleteOnExit.set(pool, key);
    // `flue run` ends with process.exit(), where beforeExit never fires: hold that exit too.
    armExitCleanup(disposeDueAtExit);
    // One listener for the whole process, however many factories the agents' renders build.
    if (!exitHooked) {
      exitHooked = true;
      process.once("beforeExit", onBeforeExit);
    }
  }
  return pool;
}

/** Disposes the pool of `key`, if there is one; the next request with that key starts afresh. */
export async function disposeKey(key: string): Promise<void> {
  const pool = pools.get(key);
  if (pool) await disposePool(key, pool);
}

function disposePool(key: string, pool: SandboxPool): Promise<void> {
  if (pools.get(key) === pool) pools.delete(key);
  deleteOnExit.delete(pool);
  if (deleteOnExit.size === 0) disarmExitCleanup();
  return pool.dispose();
}

/** Disposes every pool whose VMs are due for deletion at exit; the exit path waits for this. */
function disposeDueAtExit(): Promise<void> {
  return settleAll([...deleteOnExit].map(([pool, key]) => disposePool(key, pool)));
}

/**
 * Disposes every sandbox that any `exedev()` factory of this process opened: closes their
 * connections and deletes the VMs they created (unless `cleanup: false`). Attached VMs, and core
 * sandboxes you passed in, are never deleted or closed. Call it when your application shuts down
 * (Flue has no teardown hook); factories made afterwards start afresh. Rejects with the first
 * failure (a `SandboxError` holding several) after trying everything.
 *
 * @example
 * process.once("SIGTERM", () => void disposeExeDevSandboxes().finally(() => process.exit(0)));
 */
export async function disposeExeDevSandboxes(): Promise<void> {
  await settleAll([...pools.entries()].map(([key, pool]) => disposePool(key, pool)));
}

/**
 * Node emits `beforeExit` only once nothing keeps the event loop busy, so this runs when a script
 * ends without calling dispose. The deletions it starts keep the process alive only until done.
 */
function onBeforeExit(): void {
  exitHooked = false;
  const due = [...deleteOnExit];
  for (const [pool, key] of due) {
    const done = disposePool(key, pool);
    done.catch((error: unknown) => {
      process.emitWarning(
        `@exedev-sandbox/flue could not delete a VM it created at exit: ${(error as Error)?.message ?? error}`,
        { code: "EXEDEV_SANDBOX_CLEANUP" },
      );
    });
  }
}
