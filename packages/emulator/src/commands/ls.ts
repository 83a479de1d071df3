import type { VmRecord } from "../state-store.js";
import { type CommandDefinition, JSON_FLAG, ok } from "./command.js";
import { type LsMatcher, lsMatcher } from "./ls-pattern.js";
import { describeListedVm } from "./vm-record.js";

function matches(vm: VmRecord, patterns: readonly LsMatcher[]): boolean {
  return patterns.some((match) => match(vm.name) || vm.tags.some((tag) => match(tag)));
}

/** `ls [pattern...]`: every VM, or those whose name or a tag matches a pattern (exactly or by glob). */
export const lsCommand: CommandDefinition = {
  name: "ls",
  description: "List VMs",
  usage: "ls [-l] [-a] [name|tag|pattern]...",
  flags: {
    ...JSON_FLAG,
    l: { type: "bool", description: "Long listing (the JSON is always complete)" },
    a: { type: "bool", description: "Include team VMs (there are none)" },
    la: { type: "bool", description: "-l and -a", aliases: ["al"] },
  },
  run({ positionals, flags }, context) {
    const patterns = positionals.map((pattern) => lsMatcher(pattern.replace(/\.exe\.xyz$/, "")));
    const vms = context.store
      .vms()
      .filter((vm) => patterns.length === 0 || matches(vm, patterns))
      .map((vm) => describeListedVm(vm, context.gateway));
    const team = flags.bool("a") || flags.bool("la");
    return ok(team ? { vms, team_vms: [] } : { vms });
  },
};
