import type { CommandDefinition } from "./command.js";
import { CommandFailure } from "./command.js";

/**
 * `ssh <vm> <command…>`, listed here for `help` and token `cmds`. Over HTTPS the API runs it
 * itself (see ssh-exec.ts), since it streams raw output and an exit trailer instead of JSON
 * lines; this handler is what any other caller would reach.
 */
export const sshCommand: CommandDefinition = {
  name: "ssh",
  description: "Run a command on a VM",
  usage: "ssh [-l user] [user@]<vm> <command...>",
  flags: {},
  run() {
    throw new CommandFailure("ssh: only POST /exec runs commands on a VM here");
  },
};
