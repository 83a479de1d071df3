/**
 * Runs a cleanup before the process ends, on each way a Flue process ends:
 *
 * - `process.exit()`: how `flue run` ends (after its own teardown, which knows nothing of
 *   sandboxes), and how most servers end on a signal. Node runs only synchronous code after
 *   `process.exit`, so the call is held back until the cleanup settles, then made as asked.
 * - `SIGINT`, `SIGTERM`, `SIGHUP` with no other listener: Node's default would kill the process
 *   without any cleanup; the signal is raised again once the cleanup settles, so the process
 *   still ends by that signal. With other listeners the application owns the signal and ends
 *   through `process.exit()` or by draining, both covered.
 * - `beforeExit` stays with the registry: it fires when nothing keeps the loop busy.
 *
 * A second signal while the cleanup runs ends the process at once, so an impatient user is never
 * held up; a second `process.exit()` is ignored, as Node ignores code after the first. SIGKILL and crashes cannot be
 * caught: created VMs carry the `exedev-sandbox` tag so that a reaper can find them.
 */

/** How long the exit path waits for created VMs to be deleted before the process ends anyway. */
export const EXIT_CLEANUP_TIMEOUT_MS = 30_000;

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

interface Armed {
  cleanup: () => Promise<void>;
  originalExit: typeof process.exit;
  wrappedExit: typeof process.exit;
  onSignal: (signal: NodeJS.Signals) => void;
}

let armed: Armed | undefined;
let exiting = false;

/** Holds the process's exit until `cleanup()` settles (at most {@link EXIT_CLEANUP_TIMEOUT_MS}). */
export function armExitCleanup(cleanup: () => Promise<void>): void {
  if (armed) {
    armed.cleanup = cleanup;
    return;
  }
  const originalExit = process.exit;
  const state: Armed = {
    cleanup,
    originalExit,
    wrappedExit: ((code?: number | string | null) => {
      if (armed !== state) return originalExit.call(process, code);
      // The first call decides, as with Node's own exit, which never returns: code that ran on
      // after it (it returns here) and exits again must not cut the cleanup short.
      if (exiting) return undefined as never;
      exiting = true;
      // Set now, so code that reads it while the cleanup runs sees the exit status asked for.
      if (code !== undefined && code !== null) process.exitCode = code;
      void settleWithin(state.cleanup()).then(() => originalExit.call(process, code));
      return undefined as never;
    }) as typeof process.exit,
    onSignal: (signal) => {
      const raise = (): void => {
        for (const each of SIGNALS) process.removeListener(each, state.onSignal);
        process.kill(process.pid, signal);
      };
      if (exiting) return raise();
      if (process.listenerCount(signal) > 1) return;
      exiting = true;
      void settleWithin(state.cleanup()).then(raise);
    },
  };
  armed = state;
  process.exit = state.wrappedExit;
  for (const signal of SIGNALS) process.on(signal, state.onSignal);
}

/** Undoes {@link armExitCleanup} once nothing is left to clean up; exits behave as before. */
export function disarmExitCleanup(): void {
  const state = armed;
  if (!state || exiting) return;
  armed = undefined;
  // Someone may have wrapped process.exit after us; theirs then keeps calling ours, which passes through.
  if (process.exit === state.wrappedExit) process.exit = state.originalExit;
  for (const signal of SIGNALS) process.removeListener(signal, state.onSignal);
}

async function settleWithin(work: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), EXIT_CLEANUP_TIMEOUT_MS);
  });
  try {
    const outcome = await Promise.race([work.then(() => "done" as const), timeout]);
    if (outcome === "timeout") warn(`deleting the VMs it created took over ${EXIT_CLEANUP_TIMEOUT_MS} ms`);
  } catch (error) {
    warn(`could not delete a VM it created: ${(error as Error)?.message ?? String(error)}`);
  } finally {
    clearTimeout(timer);
  }
}

function warn(problem: string): void {
  // Written directly: at exit there is no later tick for process.emitWarning's output.
  process.stderr.write(
    `@exedev-sandbox/flue: at exit, ${problem}. Find leftovers with the API's \`ls exedev-sandbox\`` +
      " (created VMs carry that tag) and delete them with `rm`.\n",
  );
}
