import { randomBytes } from "node:crypto";
import type { ShareRecord, VmRecord } from "../state-store.js";
import { bareVmName } from "../vm-names.js";
import { type CommandContext, type CommandDefinition, CommandFailure, JSON_FLAG, ok } from "./command.js";
import { shareOf, vmHttpsUrl } from "./vm-record.js";

// The emulator has one account, so shares with other emails and links only change `share show`.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function vmOf(given: string | undefined, context: CommandContext): VmRecord {
  if (given === undefined) throw new CommandFailure("missing VM name");
  const name = bareVmName(given);
  const vm = context.store.vm(name);
  if (!vm) throw new CommandFailure(`VM ${JSON.stringify(name)} not found`);
  return vm;
}

function update(vm: VmRecord, context: CommandContext, change: (share: ShareRecord) => void): ShareRecord {
  const share = structuredClone(shareOf(vm));
  change(share);
  context.store.putVm({ ...vm, share });
  return share;
}

function linkUrl(vm: VmRecord, context: CommandContext, token: string): string {
  return `${vmHttpsUrl(vm, context.gateway)}?share=${token}`;
}

function subcommand(
  name: string,
  description: string,
  args: string,
  run: (vm: VmRecord, rest: string[], context: CommandContext) => unknown,
): CommandDefinition {
  const arity = args === "" ? 0 : args.split(" ").length;
  return {
    name: `share ${name}`,
    description,
    usage: `share ${name} <vm>${args === "" ? "" : ` ${args}`}`,
    flags: JSON_FLAG,
    run({ positionals }, context) {
      const [given, ...rest] = positionals;
      const vm = vmOf(given, context);
      if (rest.length !== arity)
        throw new CommandFailure(`usage: share ${name} <vm>${args ? ` ${args}` : ""}`);
      return ok(run(vm, rest, context));
    },
  };
}

function email(given: string | undefined): string {
  if (given === undefined || !EMAIL.test(given))
    throw new CommandFailure(`invalid email ${JSON.stringify(given)}`);
  return given.toLowerCase();
}

/** `share show|port|set-public|set-private|add|remove|add-link|remove-link` (exe-dev.md §5.6). */
export const shareCommands: readonly CommandDefinition[] = [
  subcommand("show", "Show a VM's sharing", "", (vm, _rest, context) => {
    const share = shareOf(vm);
    return {
      vm_name: vm.name,
      status: share.public ? "public" : "private",
      port: share.port,
      url: vmHttpsUrl(vm, context.gateway),
      users: share.users.map((user) => ({ email: user })),
      links: share.links.map((link) => ({
        token: link.token,
        url: linkUrl(vm, context, link.token),
        created_at: link.createdAt,
      })),
      teams: [],
      team_access: false,
      team_ssh: false,
      team_shelley: false,
    };
  }),
  subcommand("port", "Set the port the main URL reaches", "<port>", (vm, [given], context) => {
    const port = Number(given);
    if (!/^\d+$/.test(given ?? "") || port < 1 || port > 65535) {
      throw new CommandFailure(`invalid port ${JSON.stringify(given)}`);
    }
    const share = update(vm, context, (record) => {
      record.port = port;
    });
    return { vm_name: vm.name, port, share: share.public ? "public" : "private" };
  }),
  subcommand("set-public", "Make the main port public", "", (vm, _rest, context) => {
    update(vm, context, (record) => {
      record.public = true;
    });
    return { vm_name: vm.name, status: "public" };
  }),
  subcommand("set-private", "Make the main port private", "", (vm, _rest, context) => {
    update(vm, context, (record) => {
      record.public = false;
    });
    return { vm_name: vm.name, status: "private" };
  }),
  subcommand("add", "Share the VM with an email address", "<email>", (vm, [given], context) => {
    const user = email(given);
    update(vm, context, (record) => {
      if (!record.users.includes(user)) record.users.push(user);
    });
    return { vm_name: vm.name, email: user, status: "shared" };
  }),
  subcommand("remove", "Stop sharing with an email address", "<email>", (vm, [given], context) => {
    const user = email(given);
    let found = false;
    update(vm, context, (record) => {
      found = record.users.includes(user);
      record.users = record.users.filter((candidate) => candidate !== user);
    });
    if (!found) throw new CommandFailure(`VM ${JSON.stringify(vm.name)} is not shared with ${user}`);
    return { vm_name: vm.name, email: user, status: "removed" };
  }),
  subcommand("add-link", "Create a share link", "", (vm, _rest, context) => {
    const token = randomBytes(16).toString("base64url");
    update(vm, context, (record) => {
      record.links.push({ token, createdAt: new Date().toISOString() });
    });
    return { vm_name: vm.name, token, url: linkUrl(vm, context, token) };
  }),
  subcommand("remove-link", "Remove a share link", "<token>", (vm, [token], context) => {
    let found = false;
    update(vm, context, (record) => {
      found = record.links.some((link) => link.token === token);
      record.links = record.links.filter((link) => link.token !== token);
    });
    if (!found) throw new CommandFailure(`no such share link on VM ${JSON.stringify(vm.name)}`);
    return { vm_name: vm.name, token, status: "removed" };
  }),
];
