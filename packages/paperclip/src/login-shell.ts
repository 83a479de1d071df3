import { shellQuote } from "@exedev-sandbox/core";

/** A command as Paperclip sends it: a program and its arguments, never a shell string. */
export interface LoginShellCommand {
  /** The program to run (looked up on the login shell's PATH). */
  command: string;
  /** Its arguments, passed as they are. @default [] */
  args?: string[];
  /** Absolute directory to run in. @default the login directory */
  cwd?: string;
  /** Variables exported after the profile ran, so they win over it. @default {} */
  env?: Record<string, string>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The shell line that runs a Paperclip command in the user's login shell: the profile (nvm,
 * PATH, and exe.dev's `/etc/profile.d/exe-env.sh` holding the VM's `env`) loads first, then the
 * working directory and environment are applied, and the program replaces the shell so that it
 * keeps the process group core kills on timeout. Every word is single-quoted.
 */
export function loginShellCommand(input: LoginShellCommand): string {
  if (typeof input.command !== "string" || input.command.trim() === "" || input.command.includes("\0")) {
    throw new Error("command must be a non-empty program name without NUL bytes.");
  }
  const args = input.args ?? [];
  if (!Array.isArray(args) || args.some((arg) => typeof arg !== "string" || arg.includes("\0"))) {
    throw new Error("args must be strings without NUL bytes.");
  }
  const lines: string[] = [];
  if (input.cwd !== undefined) lines.push(`cd -- ${shellQuote(input.cwd)} || exit 1`);
  const env = Object.entries(input.env ?? {});
  for (const [name, value] of env) {
    if (!ENV_NAME.test(name))
      throw new Error(`env name ${JSON.stringify(name)} is not a valid shell identifier.`);
    if (typeof value !== "string" || value.includes("\0"))
      throw new Error(`env value of ${name} must be a string.`);
  }
  if (env.length > 0)
    lines.push(`export ${env.map(([name, value]) => `${name}=${shellQuote(value)}`).join(" ")}`);
  lines.push(`exec ${[input.command, ...args].map(shellQuote).join(" ")}`);
  return `exec "\${SHELL:-/bin/sh}" -l -c ${shellQuote(lines.join("\n"))}`;
}
