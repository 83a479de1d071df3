import { posix } from "node:path";
import { type Sandbox, SandboxError } from "@exedev-sandbox/core";
import type { PluginPostUploadCommand, PluginSyncFileMapping } from "@paperclipai/plugin-sdk";

/** Longest stderr quoted in an error about a failed command. */
const MAX_QUOTED_STDERR = 500;

/** A normalised absolute POSIX path on the VM, or an error naming what it is. */
export function sandboxPath(path: unknown, what: string): string {
  if (typeof path !== "string" || !path.startsWith("/") || path.includes("\0")) {
    throw new SandboxError("invalid_argument", `${what} must be an absolute POSIX path on the VM.`);
  }
  const normalized = posix.normalize(path);
  return normalized.length > 1 ? normalized.replace(/\/+$/, "") : normalized;
}

/** An absolute path on the Paperclip host, or an error naming what it is. */
export function hostPath(path: unknown, what: string): string {
  if (typeof path !== "string" || !path.startsWith("/") || path.includes("\0")) {
    throw new SandboxError("invalid_argument", `${what} must be an absolute path on the Paperclip host.`);
  }
  return path;
}

/** The requested mode as chmod's octal argument, or undefined. */
export function modeOf(mapping: PluginSyncFileMapping): string | undefined {
  if (mapping.mode === undefined || mapping.mode === null) return undefined;
  if (!Number.isInteger(mapping.mode) || mapping.mode < 0 || mapping.mode > 0o7777) {
    throw new SandboxError(
      "invalid_argument",
      `mode of ${mapping.targetPath} must be a POSIX permission number such as 0o600.`,
    );
  }
  return mapping.mode.toString(8).padStart(4, "0");
}

/** Runs a shell script on the VM (not through the login shell) and throws if it fails or times out. */
export async function runChecked(
  sandbox: Sandbox,
  script: string,
  what: string,
  options: { timeoutMs: number; cwd?: string },
): Promise<string> {
  const result = await sandbox.exec(script, options);
  if (result.exitCode !== 0) {
    const why = result.timedOut
      ? `timed out after ${options.timeoutMs} ms`
      : `exited with ${result.exitCode}`;
    const stderr = result.stderr.trim().slice(0, MAX_QUOTED_STDERR);
    throw new SandboxError(
      result.timedOut ? "timeout" : "io_error",
      `${what} ${why}${stderr ? `: ${stderr}` : ""}.`,
      {
        details: { exitCode: result.exitCode, timedOut: result.timedOut },
      },
    );
  }
  return result.stdout;
}

/**
 * Runs an operation's post-upload commands in order, verbatim, stopping at the first that fails
 * or times out. They are Paperclip's own control commands, so they run through the plain shell.
 */
export async function runPostUploadCommands(
  sandbox: Sandbox,
  operationId: string,
  commands: PluginPostUploadCommand[] | undefined,
  defaults: { cwd: string; timeoutMs: number },
): Promise<void> {
  for (const [index, step] of (commands ?? []).entries()) {
    const cwd = step.cwd ? sandboxPath(step.cwd, "A post-upload command's cwd") : defaults.cwd;
    await runChecked(
      sandbox,
      step.command,
      `Post-upload command ${index + 1} of sync operation ${operationId}`,
      {
        cwd,
        timeoutMs: step.timeoutMs ?? defaults.timeoutMs,
      },
    );
  }
}
