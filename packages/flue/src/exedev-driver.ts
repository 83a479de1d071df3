import { type FileStat as CoreFileStat, isSandboxGone, type Sandbox } from "@exedev-sandbox/core";
import type { FileStat, SandboxDriver, ShellResult } from "@flue/runtime";
import { toFlueError } from "./flue-errors.js";

/**
 * A Flue `SandboxDriver` over a core {@link Sandbox} you already hold (from `connectSandbox` or
 * `createExeDevSandbox`). Wrap it with Flue's `sandboxFromDriver(driver, cwd)`. You keep
 * ownership: the driver never closes the sandbox.
 *
 * Every method keeps Flue's semantics:
 * - `exec` resolves for any exit status. `cwd` and `env` apply to that command only; `timeoutMs`
 *   kills the remote process group and resolves with exit code 124; `signal` kills it too (core
 *   really cancels, so the signal is forwarded).
 * - `readFile` is UTF-8, `readFileBuffer` byte-exact; `writeFile` is atomic and creates parents.
 * - `stat` follows links for `isFile`/`isDirectory`/`size`/`mtime`, reports `isSymbolicLink` for
 *   the path itself, and leaves out anything the server did not say.
 * - `readdir` gives names only; `exists` never throws; `mkdir` `recursive` and `rm`
 *   `recursive`/`force` are done over SFTP, never with shell strings.
 * - A sandbox that is gone for good (core `sandbox_died`, or `closed`) rejects with Flue's
 *   `SandboxDiedError`; other core `SandboxError`s (`not_found`, `aborted`, …) pass through.
 *
 * @example
 * const core = await connectSandbox({ host: "my-vm.exe.xyz" });
 * const sandbox = sandboxFromDriver(createExeDevDriver(core), core.homeDir);
 */
export function createExeDevDriver(sandbox: Sandbox): SandboxDriver {
  return watchedDriver(sandbox, () => {});
}

/** {@link createExeDevDriver}, telling `onGone` when the sandbox turns out to be gone for good. */
export function watchedDriver(sandbox: Sandbox, onGone: () => void): SandboxDriver {
  const call = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      if (isSandboxGone(error)) onGone();
      throw toFlueError(operation, error);
    }
  };
  return {
    readFile: (path) => call("readFile", () => sandbox.readFile(path)),
    readFileBuffer: (path) => call("readFileBuffer", () => sandbox.readFileBuffer(path)),
    writeFile: (path, content) => call("writeFile", () => sandbox.writeFile(path, content)),
    stat: (path) => call("stat", async () => toFlueStat(await sandbox.stat(path))),
    readdir: (path) => call("readdir", async () => (await sandbox.readdir(path)).map((entry) => entry.name)),
    exists: async (path) => {
      try {
        return await sandbox.exists(path);
      } catch (error) {
        // Flue's contract: exists never throws. A dead sandbox still counts as gone for the pool.
        if (isSandboxGone(error)) onGone();
        return false;
      }
    },
    mkdir: (path, options) => call("mkdir", () => sandbox.mkdir(path, { recursive: options?.recursive })),
    rm: (path, options) =>
      call("rm", () => sandbox.rm(path, { recursive: options?.recursive, force: options?.force })),
    exec: (command, options) =>
      call("exec", async (): Promise<ShellResult> => {
        const result = await sandbox.exec(command, {
          cwd: options?.cwd,
          env: options?.env,
          timeoutMs: options?.timeoutMs,
          signal: options?.signal,
        });
        return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode };
      }),
  };
}

/** Core's stat without `mode` (Flue has no field for it), and without any field core left out. */
function toFlueStat(stat: CoreFileStat): FileStat {
  const result: FileStat = { isFile: stat.isFile, isDirectory: stat.isDirectory };
  if (stat.isSymbolicLink !== undefined) result.isSymbolicLink = stat.isSymbolicLink;
  if (stat.size !== undefined) result.size = stat.size;
  if (stat.mtime !== undefined) result.mtime = stat.mtime;
  return result;
}
