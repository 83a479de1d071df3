import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProcessRunner } from "./process-runner.js";
import { setupLogFile, writeSetupState } from "./setup-unit.js";

/** exe.dev's limit, measured after escape expansion. */
export const MAX_SETUP_SCRIPT_BYTES = 10_240;

/** The lobby's expansion of inline setup scripts: `\n`, `\t` and `\\`; other backslashes stay. */
export function expandSetupScript(value: string): string {
  return value.replace(/\\([nt\\])/g, (_, char: string) =>
    char === "n" ? "\n" : char === "t" ? "\t" : "\\",
  );
}

/**
 * Runs a VM's setup script once, in the background, as exeuntu's first-boot unit does: stored
 * as an executable file (a shebang picks the interpreter, else bash), run from the workspace,
 * then deleted. Output goes to `dataDir/logs/<vm>.setup.log`, like the unit's journal, and the
 * unit's state (`activating`, then `inactive` or `failed`) to the file setup-unit.ts's shims read.
 */
export function startSetupScript(
  processes: ProcessRunner,
  dataDir: string,
  vm: string,
  script: string,
): void {
  const scripts = join(dataDir, "setup");
  const logs = join(dataDir, "logs");
  mkdirSync(scripts, { recursive: true });
  mkdirSync(logs, { recursive: true });
  const file = join(scripts, `${vm}.sh`);
  writeFileSync(file, script, { mode: 0o755 });
  const runId = randomBytes(8).toString("hex");
  writeSetupState(dataDir, vm, "activating", runId);
  const log = openSync(setupLogFile(dataDir, vm), "a");
  try {
    // The path travels as $0 so no quoting is needed; bash runs a shebang-less file as a bash
    // script when exec refuses it.
    const child = processes.start(vm, ["-c", '"$0"', file], { stdio: ["ignore", log, log] });
    // A oneshot unit without RemainAfterExit ends `inactive` after success, `failed` otherwise
    // (a kill by restart or rm included).
    child.once("exit", (code) => {
      rmSync(file, { force: true });
      writeSetupState(dataDir, vm, code === 0 ? "inactive" : "failed", runId);
    });
    child.once("error", () => {
      rmSync(file, { force: true });
      writeSetupState(dataDir, vm, "failed", runId);
    });
  } finally {
    closeSync(log);
  }
}
