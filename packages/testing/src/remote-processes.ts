import type { Sandbox } from "@exedev-sandbox/core";

/**
 * Waits (up to ~2 s) until no process on the machine has `tag` in its command line, and returns
 * what is still running ("" once gone). Killing is asynchronous on the remote side, so a check
 * right after a timeout may still see the process for a moment.
 */
export async function remainingProcesses(sandbox: Sandbox, tag: string): Promise<string> {
  const look = async (): Promise<string> =>
    (
      await sandbox.exec(`ps -eo args= | grep -F -- ${JSON.stringify(tag)} | grep -v grep || true`)
    ).stdout.trim();
  let left = await look();
  for (let i = 0; i < 20 && left !== ""; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = await look();
  }
  return left;
}
