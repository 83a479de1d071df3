import type { VmRecord } from "../state-store.js";
import { bareVmName } from "../vm-names.js";
import { type CommandContext, type CommandDefinition, CommandFailure, JSON_FLAG, ok } from "./command.js";
import { checkComment, parseTags } from "./vm-options.js";

function vmOf(given: string | undefined, context: CommandContext): VmRecord {
  if (given === undefined) throw new CommandFailure("missing VM name");
  const name = bareVmName(given);
  const vm = context.store.vm(name);
  if (!vm) throw new CommandFailure(`VM ${JSON.stringify(name)} not found`);
  return vm;
}

/** `tag [-d] <vm> <tag>...`: adds (or with `-d` removes) tags; answers `{vm_name, tags}`, sorted. */
export const tagCommand: CommandDefinition = {
  name: "tag",
  description: "Add or remove VM tags",
  usage: "tag [-d] <vm> <tag>...",
  flags: { ...JSON_FLAG, d: { type: "bool", description: "Remove the tags instead of adding them" } },
  run({ positionals, flags }, context) {
    const [given, ...names] = positionals;
    const vm = vmOf(given, context);
    if (names.length === 0) throw new CommandFailure("usage: tag [-d] <vm> <tag>...");
    // parseTags checks the syntax for removals too, so a typo fails instead of silently matching nothing.
    const changed = parseTags(names);
    const tags = flags.bool("d")
      ? vm.tags.filter((tag) => !changed.includes(tag))
      : [...new Set([...vm.tags, ...changed])].sort();
    context.store.putVm({ ...vm, tags });
    return ok({ vm_name: vm.name, tags });
  },
};

/**
 * `comment <vm> <text>`: sets the VM's comment (the words after the name, joined by spaces; an
 * empty text clears it). exe.dev documents no JSON answer; this one is `{vm_name, comment}`.
 */
export const commentCommand: CommandDefinition = {
  name: "comment",
  description: "Set a VM's comment",
  usage: "comment <vm> <text>",
  flags: JSON_FLAG,
  run({ positionals }, context) {
    const [given, ...words] = positionals;
    const vm = vmOf(given, context);
    const comment = checkComment(words.join(" ")) ?? "";
    const { comment: _old, ...rest } = vm;
    context.store.putVm(comment === "" ? rest : { ...rest, comment });
    return ok({ vm_name: vm.name, comment });
  },
};
