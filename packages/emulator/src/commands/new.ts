import { mkdirSync, rmSync } from "node:fs";
import { expandSetupScript, MAX_SETUP_SCRIPT_BYTES, startSetupScript } from "../setup-script.js";
import { resetSetupUnit } from "../setup-unit.js";
import type { VmRecord } from "../state-store.js";
import { freeVmName, newVmNameProblem } from "../vm-names.js";
import { type CommandDefinition, CommandFailure, isTaken, JSON_FLAG, ok } from "./command.js";
import { checkComment, checkCpus, parseEnv, parseSize, parseTags, VM_DEFAULTS } from "./vm-options.js";
import { describeNewVm } from "./vm-record.js";

const DEFAULT_IMAGE = "exeuntu";

/** `new`: creates a VM, i.e. an empty workspace directory. */
export const newCommand: CommandDefinition = {
  name: "new",
  description: "Create a new VM",
  usage:
    "new [--name=NAME] [--image=IMAGE] [--cpu=N] [--memory=SIZE] [--disk=SIZE] [--env=K=V]... [--tag=T]... [--comment=TEXT] [--setup-script=SCRIPT]",
  flags: {
    ...JSON_FLAG,
    name: { type: "string", description: "VM name (default: random)" },
    image: { type: "string", description: "Container image (recorded only)" },
    command: { type: "string", description: "Container command: auto, none or a command (recorded only)" },
    cpu: { type: "uint", description: "Virtual CPUs (recorded only)" },
    memory: { type: "string", description: "Memory, e.g. 8GB (recorded only)" },
    disk: { type: "string", description: "Disk, e.g. 25GB (recorded only)" },
    env: { type: "list", description: "KEY=VALUE set in every command's environment (repeatable)" },
    tag: { type: "list", description: "Tag (repeatable or comma-separated)" },
    integration: { type: "list", description: "Integration to attach (none exist here)", aliases: ["int"] },
    comment: { type: "string", description: "Comment (at most 200 bytes)" },
    "setup-script": {
      type: "string",
      description: "Script run once after creation (\\n, \\t, \\\\ expanded)",
    },
    prompt: { type: "string", description: "Prompt for Shelley (accepted and ignored)" },
    "no-email": { type: "bool", description: "Do not send the creation email (there is none)" },
    "registry-auth": { type: "string", description: "USER:PASS for a private registry (ignored)" },
  },
  run({ positionals, flags }, context) {
    if (positionals.length > 0) {
      throw new CommandFailure(
        `unexpected argument ${JSON.stringify(positionals[0])}; name the VM with --name=`,
      );
    }
    const taken = (name: string): boolean => isTaken(context, name);
    const name = flags.string("name") ?? freeVmName(taken);
    const problem = newVmNameProblem(name, taken);
    if (problem) throw new CommandFailure(problem);
    const integration = flags.list("integration")[0];
    if (integration !== undefined) {
      throw new CommandFailure(`integration ${JSON.stringify(integration.split(",")[0])} not found`);
    }
    const image = flags.string("image") ?? DEFAULT_IMAGE;
    const script = flags.string("setup-script");
    const prompt = flags.string("prompt");
    for (const [flag, value] of [
      ["setup-script", script],
      ["prompt", prompt],
    ] as const) {
      if (value === "/dev/stdin")
        throw new CommandFailure(`--${flag}=/dev/stdin needs SSH; pass the text inline`);
    }
    if (prompt !== undefined && image !== DEFAULT_IMAGE) {
      throw new CommandFailure("--prompt only works with the default exeuntu image");
    }
    const expanded = script === undefined ? undefined : expandSetupScript(script);
    if (expanded !== undefined && Buffer.byteLength(expanded) > MAX_SETUP_SCRIPT_BYTES) {
      throw new CommandFailure(`--setup-script must be at most ${MAX_SETUP_SCRIPT_BYTES} bytes`);
    }
    const comment = checkComment(flags.string("comment"));
    const vm: VmRecord = {
      name,
      tags: parseTags(flags.list("tag")),
      ...(comment === undefined ? {} : { comment }),
      image,
      command: flags.string("command") ?? "auto",
      cpus: checkCpus(flags.uint("cpu")) ?? VM_DEFAULTS.cpus,
      memoryBytes: parseSize(flags.string("memory"), "memory") ?? VM_DEFAULTS.memoryBytes,
      diskBytes: parseSize(flags.string("disk"), "disk") ?? VM_DEFAULTS.diskBytes,
      env: parseEnv(flags.list("env")),
      createdAt: new Date().toISOString(),
    };
    const workspace = context.store.workspace(name);
    // A directory left behind by an earlier emulator run must not leak into the new VM.
    rmSync(workspace, { recursive: true, force: true });
    mkdirSync(workspace, { recursive: true });
    resetSetupUnit(context.store.dataDir, name);
    context.store.putVm(vm);
    if (expanded?.trim()) startSetupScript(context.processes, context.store.dataDir, name, expanded);
    return ok(describeNewVm(vm, context.gateway));
  },
};
