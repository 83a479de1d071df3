import { rm } from "node:fs/promises";
import { bareVmName } from "../vm-names.js";
import { type CommandDefinition, CommandFailure, JSON_FLAG } from "./command.js";

/** `rm <vm>...`: stops each VM's processes and deletes its workspace. */
export const rmCommand: CommandDefinition = {
  name: "rm",
  description: "Delete VMs",
  usage: "rm <vm>...",
  flags: JSON_FLAG,
  async run({ positionals }, context) {
    if (positionals.length === 0) throw new CommandFailure("usage: rm <vm>...");
    const deleted: string[] = [];
    const failed: string[] = [];
    const errors: unknown[] = [];
    for (const given of positionals) {
      const name = bareVmName(given);
      if (!context.store.vm(name)) {
        failed.push(name);
        errors.push({ error: `VM ${JSON.stringify(name)} not found` });
        continue;
      }
      context.store.deleteVm(name);
      context.gateway.disconnect(name);
      context.processes.killVm(name);
      await rm(context.store.workspace(name), { recursive: true, force: true, maxRetries: 3 });
      deleted.push(name);
    }
    // Like exe.dev: one error line per failure, then the result, and success either way.
    return { status: 200, lines: [...errors, { deleted, failed }] };
  },
};
