import { randomInt } from "node:crypto";
import { isSandboxError, type Sandbox, type SandboxErrorCode, type SandboxShell } from "@exedev-sandbox/core";
import { afterEach, describe, expect, it } from "vitest";
import { remainingProcesses } from "./remote-processes.ts";

const rejectsWith = async (promise: Promise<unknown>, code: SandboxErrorCode): Promise<void> => {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isSandboxError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
};

/** A `sleep` argument no other process on the machine has, so `ps` finds exactly this one. */
const uniqueSleep = (): string => `${3_000_000 + randomInt(1_000_000)}`;

/**
 * The persistent shell session ({@link Sandbox.openShell}): state carries over between runs,
 * each run has its own result, and a run's deadline kills only that run.
 */
export function defineShellContract(
  sandbox: () => Sandbox,
  /**
   * Opens another sandbox on the same machine and login (closed by the test that opened it);
   * the contract's `reference`. Without it the case that closes a sandbox is skipped.
   */
  another: (() => Promise<Sandbox>) | undefined,
): void {
  describe("openShell", () => {
    const shells: SandboxShell[] = [];
    const open = async (...args: Parameters<Sandbox["openShell"]>) => {
      const shell = await sandbox().openShell(...args);
      shells.push(shell);
      return shell;
    };
    afterEach(async () => {
      await Promise.all(shells.splice(0).map((shell) => shell.close()));
    });

    it("keeps cd, export, variables and functions from one run to the next", async () => {
      const shell = await open();
      expect(await shell.run('cd /tmp; export A=1; b=2; f() { echo "f$b"; }')).toMatchObject({ exitCode: 0 });
      const result = await shell.run("pwd; echo $A; sh -c 'echo \"child $A\"'; f");
      expect(result).toMatchObject({
        exitCode: 0,
        stdout: "/tmp\n1\nchild 1\nf2\n",
        stderr: "",
        timedOut: false,
      });
    });

    it("gives each run its own streams and exit status, also without a trailing newline", async () => {
      const shell = await open({ env: { GREETING: "it's $HOME" }, cwd: "/" });
      expect(await shell.run("printf out; printf err >&2; (exit 7)")).toMatchObject({
        exitCode: 7,
        stdout: "out",
        stderr: "err",
      });
      expect(await shell.run('pwd; printf %s "$GREETING"')).toMatchObject({
        exitCode: 0,
        stdout: "/\nit's $HOME",
      });
      // Runs called together take turns and each gets only its own output.
      const runs = await Promise.all(
        Array.from({ length: 8 }, (_, i) => shell.run(`echo ${i}; echo e${i} >&2`)),
      );
      expect(runs.map((run) => [run.stdout, run.stderr])).toEqual(runs.map((_, i) => [`${i}\n`, `e${i}\n`]));
    });

    it("a command reading stdin gets end of file, not the runs that follow; a syntax error keeps the session", async () => {
      const shell = await open();
      expect(await shell.run("cat; echo after-cat")).toMatchObject({ exitCode: 0, stdout: "after-cat\n" });
      const bad = await shell.run("if then");
      expect(bad.exitCode).not.toBe(0);
      expect(bad.stderr).not.toBe("");
      expect(await shell.run("echo still")).toMatchObject({ exitCode: 0, stdout: "still\n" });
    });

    it("a run's deadline kills only that command; the session goes on", async () => {
      const shell = await open();
      await shell.run("export KEPT=yes; cd /tmp");
      const sleep = uniqueSleep();
      const startedAt = performance.now();
      const timedOut = await shell.run(`echo started; sleep ${sleep}`, { timeoutMs: 1_000 });
      expect(performance.now() - startedAt).toBeLessThan(4_000);
      expect(timedOut).toMatchObject({ exitCode: 124, timedOut: true });
      expect(await shell.run('echo "$KEPT $(pwd)"')).toMatchObject({ exitCode: 0, stdout: "yes /tmp\n" });
      expect(await remainingProcesses(sandbox(), `sleep ${sleep}`)).toBe("");
    });

    it("an abort rejects the run with aborted and kills it; the next run still works", async () => {
      const shell = await open();
      const sleep = uniqueSleep();
      const controller = new AbortController();
      const run = shell.run(`sleep ${sleep}`, { signal: controller.signal });
      setTimeout(() => controller.abort(), 300);
      await rejectsWith(run, "aborted");
      expect((await shell.run("echo next")).stdout).toBe("next\n");
      expect(await remainingProcesses(sandbox(), `sleep ${sleep}`)).toBe("");
    });

    it("exit ends the session with its status; later runs and a closed session reject with closed", async () => {
      const shell = await open();
      expect(await shell.run("exit 3")).toMatchObject({ exitCode: 3 });
      await rejectsWith(shell.run("echo no"), "closed");
      const other = await open();
      await other.close();
      await other.close();
      await rejectsWith(other.run("echo no"), "closed");
    });

    it.skipIf(!another)("closing its sandbox ends the session and kills the command it runs", async () => {
      const other = await (another as () => Promise<Sandbox>)();
      const shell = await other.openShell();
      const sleep = uniqueSleep();
      const run = shell.run(`sleep ${sleep}`);
      const outcome = rejectsWith(run, "closed");
      for (let i = 0; i < 100 && (await remainingProcesses(sandbox(), `sleep ${sleep}`)) === ""; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await other.close();
      await outcome;
      expect(await remainingProcesses(sandbox(), `sleep ${sleep}`)).toBe("");
    });

    it("refuses bad input before starting anything", async () => {
      await rejectsWith(sandbox().openShell({ cwd: "relative" }), "invalid_argument");
      await rejectsWith(sandbox().openShell({ env: { "BAD-NAME": "x" } }), "invalid_argument");
      const shell = await open();
      await rejectsWith(shell.run("echo", { timeoutMs: -1 }), "invalid_argument");
      await rejectsWith(shell.run(""), "invalid_argument");
      expect((await shell.run("echo fine")).stdout).toBe("fine\n");
    });
  });
}
