import { posix } from "node:path";
import type { Sandbox } from "@exedev-sandbox/core";

/** The sandbox shape `bash-tool` accepts (its `Sandbox` interface), without an `exec` method. */
export interface BashToolSandbox {
  executeCommand(command: string): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  readFile(path: string): Promise<string>;
  writeFiles(files: Array<{ path: string; content: string | Uint8Array }>): Promise<void>;
}

/**
 * Adapts a core sandbox to `bash-tool`: `createBashTool({ sandbox: toBashToolSandbox(s), destination })`.
 * bash-tool recognises sandbox kinds by their methods, so the adapter deliberately has no
 * `exec`. bash-tool works in `/workspace` unless given `destination`; on exe.dev VMs the login
 * user cannot create `/workspace`, so pass a directory under the home directory.
 *
 * @example
 * const { tools } = await createBashTool({ sandbox: toBashToolSandbox(sandbox), destination: `${sandbox.homeDir}/workspace` });
 */
export function toBashToolSandbox(sandbox: Sandbox): BashToolSandbox {
  const absolute = (path: string): string =>
    path.startsWith("/") ? path : posix.join(sandbox.homeDir, path);
  return {
    async executeCommand(command) {
      const result = await sandbox.exec(command);
      return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode };
    },
    readFile: (path) => sandbox.readFile(absolute(path)),
    async writeFiles(files) {
      await Promise.all(files.map((file) => sandbox.writeFile(absolute(file.path), file.content)));
    },
  };
}
