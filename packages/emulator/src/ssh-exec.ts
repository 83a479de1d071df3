import type { ChildProcess } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import { constants } from "node:os";
import type { ProcessRunner } from "./process-runner.js";
import type { StateStore } from "./state-store.js";

/** The trailer exe.dev sends the remote exit code in. */
export const EXIT_TRAILER = "X-Exe-Exit";

/** Where `ssh [-l user] [user@]vm command…` points: the VM and the command line for its shell. */
export interface SshTarget {
  vm: string;
  /** The words after the VM, re-joined with single spaces (exe.dev's second parser sees this). */
  command: string;
}

/** An `ssh` command line that names no VM or command, or uses an option the lobby does not take. */
export class SshUsageError extends Error {
  override readonly name = "SshUsageError";
}

/**
 * Reads the arguments of the lobby's `ssh` (the words after `ssh`). `-l user` and `user@vm` are
 * accepted and the user ignored: a VM has one user here. Other options are refused, since exe.dev
 * would hand them to no ssh client either.
 * @throws SshUsageError for a missing VM or command, or an unsupported option.
 */
export function parseSshArgs(args: readonly string[]): SshTarget {
  let index = 0;
  while (args[index]?.startsWith("-")) {
    if (args[index] !== "-l")
      throw new SshUsageError(`ssh: unsupported option ${JSON.stringify(args[index])}`);
    if (args[index + 1] === undefined) throw new SshUsageError("ssh: -l needs a user");
    index += 2;
  }
  const destination = args[index];
  if (destination === undefined) throw new SshUsageError("ssh: usage: ssh <vm> <command...>");
  const vm = destination.slice(destination.lastIndexOf("@") + 1);
  if (vm === "") throw new SshUsageError("ssh: usage: ssh <vm> <command...>");
  const words = args.slice(index + 1);
  if (words.length === 0) throw new SshUsageError("ssh: a command is required over HTTPS");
  return { vm, command: words.join(" ") };
}

/** Whether a token's `cmds` allow `ssh` to this VM: `ssh` for any VM, or exactly `ssh <vm>`. */
export function sshAllowed(cmds: readonly string[], vm: string | undefined): boolean {
  return cmds.includes("ssh") || (vm !== undefined && cmds.includes(`ssh ${vm}`));
}

/** What {@link streamSshExec} needs. */
export interface SshExecOptions {
  store: StateStore;
  processes: ProcessRunner;
  target: SshTarget;
  /** Past this the process group is killed and the response ends without the exit trailer. */
  deadlineMs: number;
}

/** The shell's way of reporting an exit: the code, or 128 + the signal's number. */
function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 9) : 9);
}

/**
 * SIGKILLs the child's whole process group, even after the leader itself has exited: members
 * it left behind may still hold the output pipes (process-runner's `signalGroup` stops at the
 * leader's exit).
 */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // The group is already gone.
  }
}

/**
 * Runs the target's command as sshd would (`$SHELL -c <command>` in the VM's workspace, its own
 * process group, no stdin) and streams stdout and stderr interleaved into a 200
 * `application/octet-stream` response as they come, then the exit code in the `X-Exe-Exit`
 * trailer. At the deadline, or when the client goes away, the whole group gets SIGKILL; a
 * response cut by the deadline ends without the trailer, so a client cannot mistake it for a
 * finished command.
 * @returns once the response is done with.
 */
export function streamSshExec(
  request: IncomingMessage,
  response: ServerResponse,
  options: SshExecOptions,
): Promise<void> {
  const { target, processes } = options;
  const child = processes.start(target.vm, ["-c", target.command], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const { stdout, stderr } = child;
  if (!stdout || !stderr) throw new Error("the child must have piped stdout and stderr");
  response.writeHead(200, {
    "Content-Type": "application/octet-stream",
    "X-Content-Type-Options": "nosniff",
    Trailer: EXIT_TRAILER,
  });
  // Headers at once, so a client sees the command has started before its first output.
  response.flushHeaders();
  stdout.pipe(response, { end: false });
  stderr.pipe(response, { end: false });

  return new Promise((resolve) => {
    let done = false;
    const finish = (exit: number | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stdout.unpipe(response);
      stderr.unpipe(response);
      if (exit === undefined) {
        // Descendants may still hold the pipes until the kill lands; their output is not wanted.
        stdout.destroy();
        stderr.destroy();
      } else {
        response.addTrailers({ [EXIT_TRAILER]: String(exit) });
      }
      response.end(resolve);
    };
    const timer = setTimeout(() => {
      killGroup(child);
      finish(undefined);
    }, options.deadlineMs);
    response.on("close", () => {
      if (!response.writableFinished) killGroup(child);
      if (!done) {
        done = true;
        clearTimeout(timer);
        stdout.destroy();
        stderr.destroy();
        resolve();
      }
    });
    request.on("error", () => {});
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined && !done) {
        response.write(`exedev-emulator: cannot start the command: ${error.code ?? error.message}\n`);
        finish(127);
      }
    });
    // `close` comes after stdout and stderr have ended, so everything has been written by then.
    child.on("close", (code, signal) => finish(exitCode(code, signal)));
  });
}
