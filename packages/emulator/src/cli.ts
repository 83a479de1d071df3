#!/usr/bin/env node
import { parseArgs } from "node:util";
import { startEmulator } from "./emulator.js";

const usage = `exedev-emulator: a local exe.dev for development and tests (it isolates nothing)

  --data-dir DIR   keep VMs and state here (survives restarts); default: a temporary directory
  --port N         HTTP API port (POST /exec); default: any free port
  --ssh-port N     SSH gateway port; default: any free port
  --host ADDR      listen address; default 127.0.0.1
  --help`;

const { values } = parseArgs({
  options: {
    "data-dir": { type: "string" },
    port: { type: "string" },
    "ssh-port": { type: "string" },
    host: { type: "string" },
    help: { type: "boolean" },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const port = (value: string | undefined, name: string): number | undefined => {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0 || number > 65535) {
    console.error(`exedev-emulator: --${name} must be a port number`);
    process.exit(2);
  }
  return number;
};

const emulator = await startEmulator({
  dataDir: values["data-dir"],
  httpPort: port(values.port, "port"),
  sshPort: port(values["ssh-port"], "ssh-port"),
  host: values.host,
});
const token = emulator.createToken();
console.log(`exedev-emulator is running (data in ${emulator.dataDir})

  API:  ${emulator.apiUrl}/exec
  SSH:  ${emulator.sshHost}:${emulator.sshPort}  (user vm+<name>)

Use it from the library or a shell:
  export EXE_API_URL=${emulator.apiUrl}
  export EXE_API_TOKEN=${token}
  curl -s -X POST "$EXE_API_URL/exec" -H "Authorization: Bearer $EXE_API_TOKEN" -d 'new --name=my-first-vm'

Register your SSH key before logging in to a VM: it is read from ~/.ssh/id_ed25519.pub when present.
Press Ctrl-C to stop.`);

try {
  const { readFileSync } = await import("node:fs");
  const { homedir } = await import("node:os");
  emulator.registerKey(readFileSync(`${homedir()}/.ssh/id_ed25519.pub`, "utf8"), "your-key");
  console.log("(registered ~/.ssh/id_ed25519.pub)");
} catch {
  // No default key: register one programmatically instead.
}

const shutdown = async (): Promise<void> => {
  await emulator.stop();
  process.exit(0);
};
process.once("SIGINT", () => void shutdown());
process.once("SIGTERM", () => void shutdown());
