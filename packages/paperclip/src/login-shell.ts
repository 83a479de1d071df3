import { type ExecOptions, SandboxError, shellQuote } from "@exedev-sandbox/core";

/** A command as Paperclip sends it: a program and its arguments, never a shell string. */
export interface LoginShellCommand {
  /** The program to run (looked up on the login shell's PATH). */
  command: string;
  /** Its arguments, passed as they are. @default [] */
  args?: string[];
  /** Absolute directory to run in. @default the login directory */
  cwd?: string;
  /** Variables set after the profile ran, so they win over it. @default {} */
  env?: Record<string, string>;
}

/**
 * Core `exec` arguments for a Paperclip command: every word single-quoted, run with core's
 * `loginShell` (the profile, nvm and exe.dev's `/etc/profile.d/exe-env.sh` holding the VM's
 * `env` load first, then `cwd` and `env` apply), the program replacing the shell so that it
 * keeps the process group core kills on timeout. Core checks `cwd` and `env`.
 */
export function loginShellCommand(input: LoginShellCommand): {
  command: string;
  options: Pick<ExecOptions, "cwd" | "env" | "loginShell">;
} {
  if (typeof input.command !== "string" || input.command.trim() === "" || input.command.includes("\0")) {
    throw new SandboxError("invalid_argument", "command must be a non-empty program name without NUL bytes.");
  }
  const args = input.args ?? [];
  if (!Array.isArray(args) || args.some((arg) => typeof arg !== "string" || arg.includes("\0"))) {
    throw new SandboxError("invalid_argument", "args must be strings without NUL bytes.");
  }
  const options: Pick<ExecOptions, "cwd" | "env" | "loginShell"> = { loginShell: true };
  if (input.cwd !== undefined) options.cwd = input.cwd;
  if (input.env !== undefined) options.env = input.env;
  return { command: `exec ${[input.command, ...args].map(shellQuote).join(" ")}`, options };
}
