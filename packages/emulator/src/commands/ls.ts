import type { VmRecord } from "../state-store.js";
import { type CommandDefinition, JSON_FLAG, ok } from "./command.js";
import { describeListedVm } from "./vm-record.js";

/** A shell-style glob (`*`, `?`, `[a-z]`) as a whole-string regular expression. */
function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index] as string;
    if (char === "*") source += ".*";
    else if (char === "?") source += ".";
    else if (char === "[") {
      const close = pattern.indexOf("]", index + 2);
      if (close === -1) source += "\\[";
      else {
        const body = pattern
          .slice(index + 1, close)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\");
        source += `[${body}]`;
        index = close;
      }
    } else source += char.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  try {
    return new RegExp(`^${source}$`, "u");
  } catch {
    return new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`, "u");
  }
}

function matches(vm: VmRecord, patterns: readonly RegExp[]): boolean {
  return patterns.some((pattern) => pattern.test(vm.name) || vm.tags.some((tag) => pattern.test(tag)));
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
    const patterns = positionals.map((pattern) => globToRegExp(pattern.replace(/\.exe\.xyz$/, "")));
    const vms = context.store
      .vms()
      .filter((vm) => patterns.length === 0 || matches(vm, patterns))
      .map((vm) => describeListedVm(vm, context.gateway));
    const team = flags.bool("a") || flags.bool("la");
    return ok(team ? { vms, team_vms: [] } : { vms });
  },
};
