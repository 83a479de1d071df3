import { spawn } from "node:child_process";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { generateVmName, isSandboxError, parseLobbyArgs, validateVmName } from "@exedev-sandbox/core";
import type { StateStore, VmRecord } from "./state-store.js";
import type { VmProcesses } from "./vm-processes.js";

/** What a lobby command answers: an HTTP status and one JSON document per line. */
export interface CommandReply {
  status: number;
  lines: unknown[];
}

/** Where the emulator's SSH gateway is, for the records it hands out. */
export interface GatewayAddress {
  host: string;
  port: number;
}

/** The commands the emulator speaks, with their descriptions for `help`. */
export const EMULATOR_COMMANDS: Readonly<Record<string, string>> = {
  help: "Show the commands",
  ls: "List VMs (optionally matching a name or tag glob)",
  new: "Create a VM (a local workspace)",
  rm: "Delete VMs",
  cp: "Copy a VM",
  restart: "Stop a VM's processes",
  whoami: "Show the account",
  "ssh-key list": "List registered SSH keys",
};

const fail = (status: number, message: string): CommandReply => ({ status, lines: [{ error: message }] });
const ok = (body: unknown): CommandReply => ({ status: 200, lines: [body] });

function globMatches(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replaceAll("*", ".*")
    .replaceAll("?", ".");
  return new RegExp(`^${source}$`).test(value);
}

/** The lobby's escape expansion for inline setup scripts: `\n`, `\t` and `\\`. */
function expandEscapes(value: string): string {
  return value.replace(/\\([nt\\])/g, (_, char: string) =>
    char === "n" ? "\n" : char === "t" ? "\t" : "\\",
  );
}

/** Runs lobby commands against the emulator's state. */
export class LobbyCommands {
  constructor(
    private readonly store: StateStore,
    private readonly processes: VmProcesses,
    private readonly gateway: () => GatewayAddress,
  ) {}

  /** The `new`-shaped record of a VM, pointing at the SSH gateway (`vm+<name>` routing). */
  record(vm: VmRecord): Record<string, unknown> {
    const { host, port } = this.gateway();
    return {
      vm_name: vm.name,
      tags: vm.tags,
      ssh_command: `ssh -p ${port} vm+${vm.name}@${host}`,
      ssh_dest: `vm+${vm.name}@${host}`,
      ssh_host: host,
      ssh_user: `vm+${vm.name}`,
      ssh_port: port,
      status: "running",
      region: "local",
      image: vm.image,
      created_at: vm.createdAt,
      ...(vm.comment ? { comment: vm.comment } : {}),
    };
  }

  /** Runs `words` (already split, command path first) and answers. */
  run(command: string, args: readonly string[], keys: () => unknown[]): CommandReply {
    const { positionals, flags } = parseLobbyArgs(args);
    const flag = (name: string): string | undefined => flags.get(name)?.at(-1);
    const list = (name: string): string[] =>
      (flags.get(name) ?? []).flatMap((value) => value.split(",")).filter(Boolean);
    switch (command) {
      case "help":
        return ok({
          commands: Object.entries(EMULATOR_COMMANDS).map(([name, description]) => ({ name, description })),
        });
      case "whoami":
        return ok({
          email: "you@emulator.local",
          region: "local",
          region_display: "Local emulator",
          ssh_keys: keys(),
        });
      case "ssh-key list":
        return ok({ ssh_keys: keys() });
      case "ls": {
        const pattern = positionals[0];
        const vms = this.store
          .vms()
          .filter(
            (vm) => !pattern || globMatches(pattern, vm.name) || vm.tags.some((t) => globMatches(pattern, t)),
          );
        return ok({ vms: vms.map((vm) => this.record(vm)) });
      }
      case "new": {
        if (positionals.length > 0) return fail(422, `unexpected argument "${positionals[0]}"; use --name=`);
        const name = flag("name") ?? generateVmName("vm");
        const invalid = this.checkNewName(name);
        if (invalid) return invalid;
        const env: Record<string, string> = {};
        for (const pair of flags.get("env") ?? []) {
          const equals = pair.indexOf("=");
          if (equals > 0) env[pair.slice(0, equals)] = pair.slice(equals + 1);
        }
        const comment = flag("comment");
        if (comment !== undefined && Buffer.byteLength(comment) > 200)
          return fail(422, "comment must be at most 200 bytes");
        const vm: VmRecord = {
          name,
          tags: [...new Set(list("tag"))].sort(),
          comment,
          image: flag("image") ?? "exeuntu",
          env,
          createdAt: new Date().toISOString(),
        };
        mkdirSync(this.store.workspace(name), { recursive: true });
        this.store.putVm(vm);
        const script = flag("setup-script");
        if (script) this.runSetupScript(vm, expandEscapes(script));
        return ok(this.record(vm));
      }
      case "cp": {
        const [source, positionalName] = positionals;
        const from = source ? this.store.vm(source.replace(/\.exe\.xyz$/, "")) : undefined;
        if (!from) return fail(422, `VM "${source ?? ""}" not found`);
        const name = positionalName ?? flag("name") ?? generateVmName("vm");
        const invalid = this.checkNewName(name);
        if (invalid) return invalid;
        cpSync(this.store.workspace(from.name), this.store.workspace(name), {
          recursive: true,
          verbatimSymlinks: true,
        });
        const vm: VmRecord = {
          ...from,
          name,
          tags: flag("copy-tags") === "false" ? [] : [...from.tags],
          createdAt: new Date().toISOString(),
        };
        this.store.putVm(vm);
        return ok(this.record(vm));
      }
      case "rm": {
        if (positionals.length === 0) return fail(422, "rm needs at least one VM name");
        const deleted: string[] = [];
        const failed: string[] = [];
        const lines: unknown[] = [];
        for (const given of positionals) {
          const name = given.replace(/\.exe\.xyz$/, "");
          if (!this.store.vm(name)) {
            failed.push(name);
            lines.push({ error: `VM "${name}" not found` });
            continue;
          }
          this.processes.killAll(name);
          rmSync(this.store.workspace(name), { recursive: true, force: true });
          this.store.deleteVm(name);
          deleted.push(name);
        }
        return { status: 200, lines: [...lines, { deleted, failed }] };
      }
      case "restart": {
        const name = positionals[0]?.replace(/\.exe\.xyz$/, "");
        if (!name || !this.store.vm(name)) return fail(422, `VM "${name ?? ""}" not found`);
        this.processes.killAll(name);
        return ok({ vm_name: name, status: "restarted" });
      }
      default:
        return fail(404, "unknown command");
    }
  }

  private checkNewName(name: string): CommandReply | undefined {
    try {
      validateVmName(name);
    } catch (error) {
      return fail(422, isSandboxError(error) ? error.message : "invalid VM name");
    }
    if (this.store.vm(name)) return fail(422, `VM name "${name}" is not available`);
    return undefined;
  }

  /** Runs once, in the background, like exeuntu's first-boot setup unit. */
  private runSetupScript(vm: VmRecord, script: string): void {
    const workspace = this.store.workspace(vm.name);
    const child = spawn("/bin/bash", ["-c", script], {
      cwd: workspace,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: workspace, ...vm.env },
      detached: true,
      stdio: "ignore",
    });
    this.processes.track(vm.name, child);
    child.on("error", () => {});
  }
}
