import { isSandboxError, type Sandbox } from "@exedev-sandbox/core";
import { type FileStat, SandboxDiedError, type SandboxDriver, type ShellResult } from "@flue/runtime";

/**
 * Core errors that mean the machine or its connection is gone for good. Flue wants those as
 * `SandboxDiedError` (an infrastructure failure, not an abort); everything else passes through.
 */
function translate(operation: string, error: unknown): unknown {
  if (isSandboxError(error, "sandbox_died") || isSandboxError(error, "closed")) {
    return new SandboxDiedError({ operation, reason: "stopped" });
  }
  return error;
}

async function guarded<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw translate(operation, error);
  }
}

/**
 * A Flue `SandboxDriver` over a core {@link Sandbox} (for example from `connectSandbox` or
 * `createExeDevSandbox`). Pass it to Flue's `sandboxFromDriver(driver, cwd)`. The caller keeps
 * ownership of the sandbox: closing it is theirs to do.
 *
 * Semantics: `exec` resolves for every exit status; `timeoutMs` kills the remote process group
 * and resolves with exit code 124; `signal` really cancels (the remote process is killed).
 * `stat` reports only what the server said. `exists` never throws. `rm` and `mkdir` honour
 * `recursive`/`force` over SFTP, never through shell strings.
 *
 * @example
 * const driver = createExeDevDriver(await connectSandbox({ host: "my-vm.exe.xyz" }));
 * const sandbox = sandboxFromDriver(driver, "/home/exedev");
 */
export function createExeDevDriver(sandbox: Sandbox): SandboxDriver {
  return {
    readFile: (path) => guarded("readFile", () => sandbox.readFile(path)),
    readFileBuffer: (path) => guarded("readFileBuffer", () => sandbox.readFileBuffer(path)),
    writeFile: (path, content) => guarded("writeFile", () => sandbox.writeFile(path, content)),
    stat: (path) =>
      guarded("stat", async (): Promise<FileStat> => {
        const stat = await sandbox.stat(path);
        return {
          isFile: stat.isFile,
          isDirectory: stat.isDirectory,
          isSymbolicLink: stat.isSymbolicLink,
          size: stat.size,
          mtime: stat.mtime,
        };
      }),
    readdir: (path) =>
      guarded("readdir", async () => (await sandbox.readdir(path)).map((entry) => entry.name)),
    exists: async (path) => {
      try {
        return await sandbox.exists(path);
      } catch {
        return false; // Flue's contract: exists never throws
      }
    },
    mkdir: (path, options) => guarded("mkdir", () => sandbox.mkdir(path, { recursive: options?.recursive })),
    rm: (path, options) =>
      guarded("rm", () => sandbox.rm(path, { recursive: options?.recursive, force: options?.force })),
    exec: (command, options) =>
      guarded("exec", async (): Promise<ShellResult> => {
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
