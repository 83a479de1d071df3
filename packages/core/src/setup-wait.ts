import { SandboxError } from "./errors.js";
import type { Sandbox } from "./sandbox.js";
import { checkDurationMs } from "./validate.js";

/** How long `waitForSetup` waits for the setup script by default: 10 minutes. */
export const DEFAULT_SETUP_TIMEOUT_MS = 600_000;
/** Pause between two polls of the setup unit. */
const SETUP_POLL_MS = 500;
/** Lines of the unit's journal a failure carries. */
const LOG_TAIL_LINES = 50;

/** `waitForSetup` as given to `createExeDevSandbox`. */
export type WaitForSetupOption = boolean | { timeoutMs?: number };

/**
 * Checks `waitForSetup` (before any I/O) and decides: the timeout in ms, or undefined for no
 * wait. The default is to wait when a setup script was given.
 */
export function planSetupWait(option: unknown, hasSetupScript: boolean): number | undefined {
  if (option === undefined) return hasSetupScript ? DEFAULT_SETUP_TIMEOUT_MS : undefined;
  if (option === false) return undefined;
  if (option === true) return DEFAULT_SETUP_TIMEOUT_MS;
  if (typeof option !== "object" || option === null || Array.isArray(option)) {
    throw new SandboxError("invalid_argument", "waitForSetup must be a boolean or { timeoutMs }.");
  }
  return (
    checkDurationMs((option as { timeoutMs?: unknown }).timeoutMs, "waitForSetup.timeoutMs") ??
    DEFAULT_SETUP_TIMEOUT_MS
  );
}

/** What one poll found. */
export type SetupState = "running" | "done" | "failed";

/**
 * One exec per poll: the unit's ActiveState and whether exe.dev's script file is still there.
 * A missing systemctl (an image without exeuntu's unit) prints nothing and counts as inactive.
 */
export const SETUP_POLL_COMMAND: string =
  's=$(systemctl is-active exe-setup 2>/dev/null); [ -n "$s" ] || s=inactive; ' +
  '[ -e /exe.dev/setup ] && f=1 || f=0; echo "$s $f"';

/**
 * The rule: `failed` is a failure; `inactive` (or `active`) with `/exe.dev/setup` gone is done
 * (the unit's ExecStartPost deletes the file only after a successful run); `inactive` with the
 * file still there means the unit has not started yet (early boot), so keep polling, as for
 * `activating` and every other state.
 */
export function parseSetupPoll(stdout: string): SetupState {
  const [state = "", file = ""] = stdout.trim().split(/\s+/);
  if (state === "failed") return "failed";
  if ((state === "inactive" || state === "active") && file === "0") return "done";
  return "running";
}

/**
 * Waits until the VM's setup script has finished. Rejects with `timeout` after `timeoutMs`, and
 * with `sandbox_died` (not retryable: the VM's setup is broken) when the script failed, its
 * journal's last lines in `details.logTail` (the script itself is never included).
 */
export async function waitForSetupScript(sandbox: Sandbox, vm: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const remainingMs = deadline - Date.now();
    const poll = await sandbox.exec(SETUP_POLL_COMMAND, {
      timeoutMs: Math.max(1_000, Math.min(15_000, remainingMs)),
    });
    const state = parseSetupPoll(poll.stdout);
    if (state === "done") return;
    if (state === "failed") {
      const log = await sandbox
        .exec(`journalctl -u exe-setup --no-pager -n ${LOG_TAIL_LINES} 2>&1`, { timeoutMs: 15_000 })
        .then(
          (result) => result.stdout,
          () => "",
        );
      throw new SandboxError(
        "sandbox_died",
        `The setup script of VM ${vm} failed (exe-setup.service is "failed"); see details.logTail for the end of its log (journalctl -u exe-setup).`,
        { retryable: false, details: { vm, reason: "setup_failed", logTail: log.trimEnd() } },
      );
    }
    if (Date.now() + SETUP_POLL_MS > deadline) {
      throw new SandboxError(
        "timeout",
        `The setup script of VM ${vm} did not finish within ${timeoutMs} ms; raise waitForSetup.timeoutMs or pass waitForSetup: false.`,
        { details: { vm, reason: "setup_timeout", timeoutMs } },
      );
    }
    await new Promise((done) => setTimeout(done, SETUP_POLL_MS));
  }
}
