import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Emulator, startEmulator } from "./emulator.js";

/** The command line's help text. */
export const USAGE = `exedev-emulator: a local exe.dev for development and tests. It isolates nothing:
VMs are directories, their commands run as your own processes.

Usage: exedev-emulator [options]

  --data-dir DIR   keep VMs, keys and state here, across restarts (default: a temporary
                   directory, removed on exit)
  --port N         HTTP API port, for POST /exec (default: any free port)
  --ssh-port N     SSH gateway port (default: any free port)
  --host ADDR      listen address (default: 127.0.0.1; keep it on loopback)
  --key FILE       register this OpenSSH public key for SSH logins (repeatable; default:
                   ~/.ssh/id_ed25519.pub, id_ecdsa.pub and id_rsa.pub, those that exist)
  -h, --help       show this help`;

/** A command line the CLI cannot use; it prints the message and the usage, and exits with 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Where the CLI writes. */
export interface CliOutput {
  log(text: string): void;
  error(text: string): void;
}

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 65_535) {
    throw new UsageError(`--${flag} must be a port number (0-65535)`);
  }
  return Number(value);
}

function defaultKeyFiles(): string[] {
  return ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"]
    .map((file) => join(homedir(), ".ssh", file))
    .filter((file) => existsSync(file));
}

/**
 * Runs the `exedev-emulator` command line up to a running emulator: parses `args`, starts it,
 * registers keys and prints how to use it.
 * @returns undefined after `--help`.
 * @throws UsageError for a bad command line.
 */
export async function startFromCommandLine(
  args: readonly string[],
  output: CliOutput,
): Promise<Emulator | undefined> {
  let values: {
    "data-dir"?: string;
    port?: string;
    "ssh-port"?: string;
    host?: string;
    key?: string[];
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        "data-dir": { type: "string" },
        port: { type: "string" },
        "ssh-port": { type: "string" },
        host: { type: "string" },
        key: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    output.log(USAGE);
    return undefined;
  }
  const httpPort = port(values.port, "port");
  const sshPort = port(values["ssh-port"], "ssh-port");
  const emulator = await startEmulator({ dataDir: values["data-dir"], httpPort, sshPort, host: values.host });

  const registered: string[] = [];
  for (const file of values.key ?? defaultKeyFiles()) {
    try {
      emulator.registerKey(readFileSync(file, "utf8"), file.replace(`${homedir()}/`, "~/"));
      registered.push(file);
    } catch (error) {
      output.error(`exedev-emulator: not registering ${file}: ${(error as Error).message}`);
    }
  }

  const ownKey = join(emulator.dataDir, "emulator_ed25519");
  // The host key lives in the data directory, so its known_hosts entry belongs there too.
  const knownHosts = join(emulator.dataDir, "known_hosts");
  output.log(`exedev-emulator is running. It isolates nothing: use it for development and tests only.

  API:   POST ${emulator.apiUrl}/exec
  SSH:   ${emulator.sshHost} port ${emulator.sshPort}, user vm+<vm-name>
  Data:  ${emulator.dataDir}

Point the library (or curl) at it:

  export EXE_API_URL=${emulator.apiUrl}
  export EXE_API_TOKEN=${emulator.createToken()}

  curl -s -X POST "$EXE_API_URL/exec" -H "Authorization: Bearer $EXE_API_TOKEN" -d 'new --name=my-first-vm'
  ssh -i ${ownKey} -o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=accept-new \\
      -p ${emulator.sshPort} vm+my-first-vm@${emulator.sshHost} 'echo hello from $HOME'
${registered.length > 0 ? `\nAlso registered for SSH logins: ${registered.join(", ")}\n` : ""}
Ctrl-C stops it.`);
  return emulator;
}
