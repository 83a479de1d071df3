import type { ChildProcess } from "node:child_process";

/**
 * Processes started for each VM (commands and SFTP servers), so `restart` and `rm` can stop
 * them. Every command leads its own process group, so killing the group stops its children.
 */
export class VmProcesses {
  private readonly byVm = new Map<string, Set<ChildProcess>>();

  track(vm: string, child: ChildProcess): void {
    let set = this.byVm.get(vm);
    if (!set) {
      set = new Set();
      this.byVm.set(vm, set);
    }
    set.add(child);
    child.once("close", () => set.delete(child));
  }

  killAll(vm: string): void {
    for (const child of this.byVm.get(vm) ?? []) killGroup(child, "SIGKILL");
  }

  killEverything(): void {
    for (const vm of this.byVm.keys()) this.killAll(vm);
  }
}

/** Sends a signal to a child's whole process group (it was started detached, as its leader). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}
