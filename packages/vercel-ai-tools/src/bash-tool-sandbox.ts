import { posix } from "node:path";
import { type Sandbox, SandboxError } from "@exedev-sandbox/core";

/**
 * The sandbox shape `bash-tool` accepts (its `Sandbox` interface), declared here so this package
 * needs no types from the optional `bash-tool` peer. It has no `exec` method on purpose.
 */
export interface BashToolSandbox {
  /** Runs a command through the VM's login shell; a non-zero exit is a result, not an error. */
  executeCommand(command: string): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /** Reads a whole file as UTF-8 text; rejects with `SandboxError` `not_found` when it is missing. */
  readFile(path: string): Promise<string>;
  /** Writes files (text or bytes), creating missing parent directories. */
  writeFiles(files: Array<{ path: string; content: string | Uint8Array }>): Promise<void>;
}

/** Options for {@link toBashToolSandbox}. */
export interface BashToolSandboxOptions {
  /**
   * Deadline for each command, in ms. bash-tool passes no timeout and no abort signal, so without
   * one a hung command would hang the agent; when it passes, the command and its children are
   * killed and the result is exit code 124 with a note on stderr.
   * @default 300000
   */
  timeoutMs?: number;
}

/**
 * Adapts an exe.dev sandbox to `bash-tool`:
 * `createBashTool({ sandbox: toBashToolSandbox(sandbox), destination })`.
 *
 * bash-tool tells sandbox kinds apart by their methods (an `exec` method means just-bash), so the
 * adapted object has only `executeCommand`, `readFile` and `writeFiles`. bash-tool runs every
 * command in `destination`, `/workspace` by default, which the VM's login user cannot create:
 * pass a directory it owns, and create it first when you give bash-tool no `files` to write.
 * Relative paths resolve against the home directory.
 *
 * @example
 * const destination = `${sandbox.homeDir}/workspace`;
 * await sandbox.mkdir(destination, { recursive: true });
 * const { tools } = await createBashTool({ sandbox: toBashToolSandbox(sandbox), destination });
 */
export function toBashToolSandbox(sandbox: Sandbox, options: BashToolSandboxOptions = {}): BashToolSandbox {
  const timeoutMs = options.timeoutMs ?? 300_000;
  if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) {
    throw new SandboxError("invalid_argument", "toBashToolSandbox: timeoutMs must be a positive integer.", {
      details: { field: "timeoutMs" },
    });
  }
  const absolute = (path: string): string => posix.resolve(sandbox.homeDir, path);
  return {
    async executeCommand(command) {
      const result = await sandbox.exec(command, { timeoutMs });
      // Exit 124 alone does not tell the model that it was cut off, nor why.
      const note = result.timedOut ? `\n[command timed out after ${timeoutMs} ms and was killed]\n` : "";
      return { stdout: result.stdout, stderr: result.stderr + note, exitCode: result.exitCode };
    },
    readFile: (path) => sandbox.readFile(absolute(path)),
    async writeFiles(files) {
      await Promise.all(files.map((file) => sandbox.writeFile(absolute(file.path), file.content)));
    },
  };
}
