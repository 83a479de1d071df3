import { cp, lstat, rm } from "node:fs/promises";
import { resetSetupUnit } from "../setup-unit.js";
import type { VmRecord } from "../state-store.js";
import { bareVmName, freeVmName, newVmNameProblem } from "../vm-names.js";
import { type CommandDefinition, CommandFailure, isTaken, JSON_FLAG, ok } from "./command.js";
import { checkCpus, parseSize } from "./vm-options.js";
import { describeNewVm } from "./vm-record.js";

/** Sockets, pipes and devices cannot be copied as files (a VM snapshot would not carry them either). */
async function isCopyable(path: string): Promise<boolean> {
  const stats = await lstat(path);
  return !(stats.isSocket() || stats.isFIFO() || stats.isCharacterDevice() || stats.isBlockDevice());
}

/** `cp <src> [new-name]`: a new VM whose workspace is a copy of the source's. */
export const cpCommand: CommandDefinition = {
  name: "cp",
  description: "Copy a VM",
  usage: "cp <src> [new-name] [--name=NAME] [--copy-tags=false] [--cpu=N] [--memory=SIZE] [--disk=SIZE]",
  flags: {
    ...JSON_FLAG,
    name: { type: "string", description: "Name of the copy (default: random)" },
    "copy-tags": { type: "bool", description: "Copy the source's tags (default true)" },
    cpu: { type: "uint", description: "Virtual CPUs (default: the source's)" },
    memory: { type: "string", description: "Memory (default: the source's)" },
    disk: { type: "string", description: "Disk (default: the source's)" },
  },
  async run({ positionals, flags }, context) {
    const [given, positionalName, extra] = positionals;
    if (given === undefined || extra !== undefined) throw new CommandFailure("usage: cp <src> [new-name]");
    const source = context.store.vm(bareVmName(given));
    if (!source) throw new CommandFailure(`VM ${JSON.stringify(bareVmName(given))} not found`);
    const flagName = flags.string("name");
    if (positionalName !== undefined && flagName !== undefined && positionalName !== flagName) {
      throw new CommandFailure("the new name is given twice, differently");
    }
    const taken = (name: string): boolean => isTaken(context, name);
    const name = positionalName ?? flagName ?? freeVmName(taken);
    const problem = newVmNameProblem(name, taken);
    if (problem) throw new CommandFailure(problem);
    const vm: VmRecord = {
      ...source,
      name,
      tags: flags.bool("copy-tags") === false ? [] : [...source.tags],
      cpus: checkCpus(flags.uint("cpu")) ?? source.cpus,
      memoryBytes: parseSize(flags.string("memory"), "memory") ?? source.memoryBytes,
      diskBytes: parseSize(flags.string("disk"), "disk") ?? source.diskBytes,
      env: { ...source.env },
      createdAt: new Date().toISOString(),
      // exe.dev copies the proxy route (port, public or private), not the email shares or links.
      ...(source.share ? { share: { ...source.share, users: [], links: [] } } : {}),
    };
    const target = context.store.workspace(name);
    context.pendingNames.add(name);
    try {
      await rm(target, { recursive: true, force: true });
      await cp(context.store.workspace(source.name), target, {
        recursive: true,
        verbatimSymlinks: true,
        preserveTimestamps: true,
        filter: isCopyable,
      });
      // The copy boots with its setup already done (or never given): exe-setup is inactive.
      resetSetupUnit(context.store.dataDir, name);
      context.store.putVm(vm);
    } catch (error) {
      await rm(target, { recursive: true, force: true }).catch(() => {});
      throw new CommandFailure(
        `copying ${source.name} failed: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
      );
    } finally {
      context.pendingNames.delete(name);
    }
    return ok(describeNewVm(vm, context.gateway));
  },
};
