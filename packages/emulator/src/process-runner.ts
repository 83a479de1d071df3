import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { PTY_HELPER_SOURCE } from "./pty-helper.js";
import { shimDir } from "./setup-unit.js";
import type { StateStore } from "./state-store.js";

/**
 * Set in every VM process, so that `restart`, `rm` and `stop()` also find processes that left
 * their process group (`setsid`, daemons): environments are inherited, groups are not.
 */
export const WORKSPACE_TAG = "EXEDEV_EMULATOR_WORKSPACE";

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? "exedev";
  }
}

/** Sends `signal` to a child's whole process group; it was started detached, as the group's leader. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/**
 * Starts processes "in a VM": local processes of the current user, with the VM's workspace as
 * HOME and starting directory and a small clean environment. Each one leads its own process
 * group, as sshd makes each exec a session leader, so `kill -- -PGID` from inside reaches its
 * children. Keeps track of them per VM so a VM can be stopped.
 */
export class ProcessRunner {
  /** The shell commands run under: bash when there is one, as on exe.dev's images. */
  readonly shell: string = existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh";
  private readonly byVm = new Map<string, Set<ChildProcess>>();
  private readonly user = currentUser();

  constructor(private readonly store: StateStore) {}

  /** The environment of a VM process: PATH (the setup-unit shims first), HOME, USER, LOGNAME, SHELL, LANG, the VM's `--env`, then `extra`. */
  environment(vm: string, extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
    const home = this.store.workspace(vm);
    return {
      // The systemctl/journalctl shims for exe-setup come first (see setup-unit.ts).
      PATH: `${shimDir(this.store.dataDir)}:${process.env.PATH || DEFAULT_PATH}`,
      HOME: home,
      USER: this.user,
      LOGNAME: this.user,
      SHELL: this.shell,
      LANG: process.env.LANG || "C.UTF-8",
      ...this.store.vm(vm)?.env,
      ...extra,
      [WORKSPACE_TAG]: home,
    };
  }

  /**
   * Runs `shell ...args` in the VM's workspace as a new process group; with `pty`, on a
   * pseudo-terminal of that size through the pty helper (see pty-helper.ts), whose stdin then
   * takes {@link PtyInput} frames.
   */
  start(
    vm: string,
    args: readonly string[],
    options: {
      env?: Readonly<Record<string, string>>;
      stdio?: StdioOptions;
      pty?: { cols: number; rows: number };
    } = {},
  ): ChildProcess {
    const { pty } = options;
    const [file, argv] = pty
      ? ["perl", ["-e", PTY_HELPER_SOURCE, String(pty.rows), String(pty.cols), this.shell, ...args]]
      : [this.shell, args];
    const child = spawn(file, argv, {
      cwd: this.store.workspace(vm),
      env: this.environment(vm, options.env),
      detached: true,
      stdio: options.stdio ?? "pipe",
    });
    let children = this.byVm.get(vm);
    if (!children) {
      children = new Set();
      this.byVm.set(vm, children);
    }
    const tracked = children;
    tracked.add(child);
    const forget = (): void => {
      tracked.delete(child);
      if (tracked.size === 0 && this.byVm.get(vm) === tracked) this.byVm.delete(vm);
    };
    child.once("exit", forget);
    child.once("error", forget);
    return child;
  }

  /** Kills every process of a VM (SIGKILL), as a VM restart would. */
  killVm(vm: string): void {
    for (const child of this.byVm.get(vm) ?? []) signalGroup(child, "SIGKILL");
    killTagged(new Set([this.store.workspace(vm)]));
  }

  /** Kills the processes of every VM. */
  killAll(): void {
    const workspaces = new Set<string>();
    for (const [vm, children] of this.byVm) {
      workspaces.add(this.store.workspace(vm));
      for (const child of children) signalGroup(child, "SIGKILL");
    }
    for (const vm of this.store.vms()) workspaces.add(this.store.workspace(vm.name));
    killTagged(workspaces);
  }
}

/** Kills processes whose environment carries one of `workspaces` as its tag (Linux only; elsewhere a no-op). */
function killTagged(workspaces: ReadonlySet<string>): void {
  if (workspaces.size === 0 || !existsSync("/proc/self/environ")) return;
  const markers = [...workspaces].map((path) => Buffer.from(`${WORKSPACE_TAG}=${path}\0`));
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${entry}/environ`);
    } catch {
      continue; // gone, or another user's
    }
    const hit = markers.some(
      (marker) =>
        environ.subarray(0, marker.length).equals(marker) ||
        environ.includes(Buffer.concat([Buffer.from([0]), marker])),
    );
    if (!hit) continue;
    try {
      process.kill(Number(entry), "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}
