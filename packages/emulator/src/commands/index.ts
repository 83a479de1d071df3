import { type ParsedArgs, parseFlags } from "../flags.js";
import { sshKeyListCommand, whoamiCommand } from "./account.js";
import {
  type CommandContext,
  type CommandDefinition,
  CommandFailure,
  type CommandResult,
  JSON_FLAG,
  ok,
} from "./command.js";
import { cpCommand } from "./cp.js";
import { lsCommand } from "./ls.js";
import { newCommand } from "./new.js";
import { restartCommand } from "./restart.js";
import { rmCommand } from "./rm.js";
import { shareCommands } from "./share.js";
import { sshCommand } from "./ssh.js";
import { commentCommand, tagCommand } from "./tag.js";

// Groups have no handler of their own; `help` lists their subcommands.
const GROUPS: Readonly<Record<string, string>> = {
  "ssh-key": "Manage SSH keys",
  share: "Share HTTPS VM access",
};

function details(command: CommandDefinition): Record<string, unknown> {
  return {
    command: command.name,
    description: command.description,
    usage: command.usage,
    flags: Object.entries(command.flags).map(([name, flag]) => ({ name, description: flag.description })),
  };
}

const helpCommand: CommandDefinition = {
  name: "help",
  description: "Show the commands, or help for one",
  usage: "help [command...]",
  flags: JSON_FLAG,
  run({ positionals }) {
    if (positionals.length === 0) return ok({ commands: overview() });
    const wanted = positionals.join(" ");
    const command = COMMANDS.find((candidate) => candidate.name === wanted);
    if (command) return ok(details(command));
    const group = GROUPS[wanted];
    if (group !== undefined)
      return ok({ command: wanted, description: group, subcommands: subcommandsOf(wanted) });
    throw new CommandFailure(`no help for ${JSON.stringify(wanted)}: unknown command`);
  },
};

/** Every command the emulator runs, by canonical name. */
const COMMANDS: readonly CommandDefinition[] = [
  helpCommand,
  lsCommand,
  newCommand,
  rmCommand,
  cpCommand,
  restartCommand,
  tagCommand,
  commentCommand,
  whoamiCommand,
  sshKeyListCommand,
  ...shareCommands,
  sshCommand,
];

/** The canonical names of every command, e.g. for a token that may run them all. */
export const COMMAND_NAMES: readonly string[] = COMMANDS.map((command) => command.name);

function subcommandsOf(group: string): Array<{ name: string; description: string }> {
  return COMMANDS.filter((command) => command.name.startsWith(`${group} `)).map((command) => ({
    name: command.name.slice(group.length + 1),
    description: command.description,
  }));
}

function overview(): Array<Record<string, unknown>> {
  const entries: Array<Record<string, unknown>> = [];
  for (const command of COMMANDS) {
    const space = command.name.indexOf(" ");
    if (space === -1) {
      entries.push({ name: command.name, description: command.description });
      continue;
    }
    const group = command.name.slice(0, space);
    if (entries.some((entry) => entry.name === group)) continue;
    entries.push({ name: group, description: GROUPS[group] ?? "", subcommands: subcommandsOf(group) });
  }
  return entries;
}

/** A command line resolved to its command: the longest known command path, then its arguments. */
export interface ResolvedCommand {
  command: CommandDefinition;
  args: string[];
}

/** Finds the command the words name (`ssh-key list …` before `ssh-key …`), or undefined. */
export function resolveCommand(words: readonly string[]): ResolvedCommand | undefined {
  for (const length of [2, 1]) {
    if (words.length < length) continue;
    const name = words.slice(0, length).join(" ");
    const command = COMMANDS.find((candidate) => candidate.name === name);
    if (command) return { command, args: words.slice(length) };
  }
  return undefined;
}

/**
 * Parses the arguments and runs the command; `--help` answers the command's help instead.
 * @throws CommandFailure (or FlagError) when the command fails.
 */
export async function runCommand(resolved: ResolvedCommand, context: CommandContext): Promise<CommandResult> {
  const parsed: ParsedArgs = parseFlags(resolved.args, resolved.command.flags);
  if (parsed.flags.bool("help")) return ok(details(resolved.command));
  return resolved.command.run(parsed, context);
}
