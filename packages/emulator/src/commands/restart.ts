import { bareVmName } from "../vm-names.js";
import { type CommandDefinition, CommandFailure, JSON_FLAG, ok } from "./command.js";

/** `restart <vm>`: kills every process of the VM and drops its SSH connections, as a reboot would. */
export const restartCommand: CommandDefinition = {
  name: "restart",
  description: "Restart a VM (kills its processes)",
  usage: "restart <vm>",
  flags: JSON_FLAG,
  run({ positionals }, context) {
    if (positionals.length !== 1) throw new CommandFailure("usage: restart <vm>");
    const name = bareVmName(positionals[0] as string);
    if (!context.store.vm(name)) throw new CommandFailure(`VM ${JSON.stringify(name)} not found`);
    context.gateway.disconnect(name);
    context.processes.killVm(name);
    return ok({ vm_name: name, status: "restarted" });
  },
};
