import { posix } from "node:path";
import type {
  PluginEnvironmentExecuteParams,
  PluginEnvironmentExecuteResult,
  PluginEnvironmentRealizeWorkspaceParams,
  PluginEnvironmentRealizeWorkspaceResult,
} from "@paperclipai/plugin-sdk";
import {
  clientFor,
  DEFAULT_WORKSPACE,
  type HookContext,
  leaseVm,
  leaseWorkspace,
  remotePath,
  withLease,
} from "./hook-context.js";
import { loginShellCommand } from "./login-shell.js";

/** Creates the run's working directory on the VM (the requested one, else the lease's) and returns it. */
export async function realizeWorkspace(
  context: HookContext,
  params: PluginEnvironmentRealizeWorkspaceParams,
): Promise<PluginEnvironmentRealizeWorkspaceResult> {
  const client = clientFor(context, params.config);
  const vmName = leaseVm(params.lease);
  return withLease(context, client, vmName, async (sandbox) => {
    const base = leaseWorkspace(params.lease) ?? posix.join(sandbox.homeDir, DEFAULT_WORKSPACE);
    const cwd = remotePath(params.workspace.remotePath || base, sandbox.homeDir);
    await sandbox.mkdir(cwd, { recursive: true });
    return { cwd, metadata: { provider: "exe-dev", vmName, remoteCwd: cwd } };
  });
}

/**
 * Runs one command on the lease's VM through the login shell, over the cached connection. A
 * non-zero exit is a result, not an error; a timeout kills the remote process group and is
 * reported with `timedOut: true` and no exit code.
 */
export async function execute(
  context: HookContext,
  params: PluginEnvironmentExecuteParams,
): Promise<PluginEnvironmentExecuteResult> {
  const client = clientFor(context, params.config);
  const vmName = leaseVm(params.lease);
  return withLease(context, client, vmName, async (sandbox) => {
    const base = leaseWorkspace(params.lease) ?? sandbox.homeDir;
    const { command, options } = loginShellCommand({
      command: params.command,
      args: params.args,
      cwd: remotePath(params.cwd || base, sandbox.homeDir),
      env: params.env,
    });
    const log = context.executionLog;
    const result = await sandbox.exec(command, {
      ...options,
      stdin: params.stdin ?? undefined,
      timeoutMs: params.timeoutMs ?? client.config.timeoutMs,
      onStdout: log && ((chunk) => log("stdout", chunk)),
      onStderr: log && ((chunk) => log("stderr", chunk)),
    });
    return {
      exitCode: result.timedOut ? null : result.exitCode,
      signal: null,
      timedOut: result.timedOut,
      stdout: result.stdout,
      stderr: result.stderr,
      metadata: { vmName, durationMs: Math.round(result.durationMs), truncated: result.truncated },
    };
  });
}
