import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
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
  --proxy-port N   HTTP proxy port for VM URLs, http://<vm>.localhost:N/ (default: any free port)
  --host ADDR      listen address (default: 127.0.0.1; keep it on loopback)
  --key FILE       register this OpenSSH public key for SSH logins (repeatable; default:
                   ~/.ssh/id_ed25519.pub, id_ecdsa.pub and id_rsa.pub, those that exist)
  --write-env FILE also write the environment the library needs to FILE (.env format, mode
                   0600: it holds a token), e.g. .env, which \`flue run\` and dotenv load
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
    "proxy-port"?: string;
    host?: string;
    key?: string[];
    "write-env"?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        "data-dir": { type: "string" },
        port: { type: "string" },
        "ssh-port": { type: "string" },
        "proxy-port": { type: "string" },
        host: { type: "string" },
        key: { type: "string", multiple: true },
        "write-env": { type: "string" },
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
  const proxyPort = port(values["proxy-port"], "proxy-port");
  const emulator = await startEmulator({
    dataDir: values["data-dir"],
    httpPort,
    sshPort,
    proxyPort,
    host: values.host,
  });

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
  const env = libraryEnvironment(emulator, ownKey);
  const envFile = values["write-env"];
  if (envFile !== undefined) {
    const lines = env.map(([name, value]) => `${name}=${shellQuote(value)}\n`).join("");
    writeFileSync(envFile, lines, { mode: 0o600 });
    chmodSync(envFile, 0o600); // an existing file keeps its mode on write
  }
  output.log(`exedev-emulator is running. It isolates nothing: use it for development and tests only.

  API:       POST ${emulator.apiUrl}/exec
  SSH:       ${emulator.sshHost} port ${emulator.sshPort}, user vm+<vm-name>
  Proxy:     http://<vm-name>.localhost:${emulator.proxyPort}/ (the VM's port 8000),
             http://<port>.<vm-name>.localhost:${emulator.proxyPort}/ (ports 3000-9999); private
             unless shared: send X-Exedev-Authorization: Bearer <VM token>
  Host key:  ${emulator.hostKeyFingerprint}
  Data:      ${emulator.dataDir}

Point the library at it${envFile === undefined ? "" : ` (also written to ${envFile})`}:

${env.map(([name, value]) => `  export ${name}=${shellQuote(value)}`).join("\n")}

  curl -s -X POST "$EXE_API_URL/exec" -H "Authorization: Bearer $EXE_API_TOKEN" -d 'new --name=my-first-vm'
  ssh -i "$EXE_SSH_KEY" -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no \\
      -p ${emulator.sshPort} vm+my-first-vm@${emulator.sshHost} 'echo hello from $HOME'

EXE_SSH_KEY is the emulator's own registered key, so no key of yours is needed, and
EXE_SSH_HOST_KEY_SHA256 pins its host key, so nothing is written to ~/.ssh/known_hosts.
${registered.length > 0 ? `\nAlso registered for SSH logins: ${registered.join(", ")}\n` : ""}
Ctrl-C stops it.`);
  return emulator;
}

/**
 * What the library needs to use this emulator: API, token, the key the emulator registered for
 * itself (so no key of the user's is needed), and its host key's fingerprint (so nothing is
 * trusted on first use or written to ~/.ssh/known_hosts).
 */
function libraryEnvironment(emulator: Emulator, ownKeyPath: string): Array<[string, string]> {
  return [
    ["EXE_API_URL", emulator.apiUrl],
    ["EXE_API_TOKEN", emulator.createToken()],
    ["EXE_SSH_KEY", ownKeyPath],
    ["EXE_SSH_HOST_KEY_SHA256", emulator.hostKeyFingerprint],
  ];
}

/** Quoted for POSIX shells and .env files alike: bare when safe, else in single quotes. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}
