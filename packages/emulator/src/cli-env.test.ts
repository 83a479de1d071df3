import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, describe, expect, it } from "vitest";

// A newcomer's path: start the command line, paste what it prints into a shell that has no SSH
// key and an empty home, and use the library. The CLI and core run built, as installed.
const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const core = fileURLToPath(new URL("../../core/dist/index.js", import.meta.url));
const run = promisify(execFile);

const scratch = mkdtempSync(join(tmpdir(), "exedev-emulator-cli-env-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** What a user's script does with only the environment: create a VM, run a command, delete it. */
const CLIENT = `
import { createExeDevSandbox } from ${JSON.stringify(core)};
const sandbox = await createExeDevSandbox({ create: true });
const { stdout } = await sandbox.exec("echo hello from $(hostname)");
await sandbox.dispose();
process.stdout.write(stdout);
`;
const client = join(scratch, "client.mjs");
writeFileSync(client, CLIENT);

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) child.kill("SIGTERM");
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts `exedev-emulator` as a user would, with its own empty home; resolves with what it printed. */
async function startCli(args: string[], home: string): Promise<{ banner: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { PATH: process.env.PATH, HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  let banner = "";
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk) => {
      banner += chunk;
      if (banner.includes("Ctrl-C stops it.")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`exedev-emulator exited with ${code}: ${stderr}`)));
  });
  return { banner, child };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** Runs the client in a POSIX shell after `setup` (e.g. the pasted export lines), with only PATH and HOME. */
async function clientIn(setup: string, home: string): Promise<string> {
  const { stdout } = await run("sh", ["-c", `${setup}\nexec "$0" "$1"`, process.execPath, client], {
    env: { PATH: process.env.PATH, HOME: home },
  });
  return stdout;
}

const exportLines = (banner: string): string =>
  banner
    .split("\n")
    .filter((line) => /^\s+export /.test(line))
    .join("\n");

describe("exedev-emulator command line: the environment it prints is all the library needs", () => {
  it("prints the key, the host key and the API; a client with an empty home works and writes no ~/.ssh", async () => {
    const home = mkdtempSync(join(scratch, "home-"));
    const { banner } = await startCli([], home);
    const exports = exportLines(banner);
    for (const name of ["EXE_API_URL", "EXE_API_TOKEN", "EXE_SSH_KEY", "EXE_SSH_HOST_KEY_SHA256"]) {
      expect(exports).toMatch(new RegExp(`^  export ${name}=\\S+$`, "m"));
    }
    const fingerprint = /EXE_SSH_HOST_KEY_SHA256=(\S+)/.exec(exports)?.[1];
    expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(banner).toContain(`Host key:  ${fingerprint}`);
    expect(await clientIn(exports, home)).toMatch(/^hello from \S+\n$/);
    expect(existsSync(join(home, ".ssh"))).toBe(false);
  });

  it("restarts on the same fixed ports with a new host key, and the client follows the new pin", async () => {
    const home = mkdtempSync(join(scratch, "home-"));
    const ports = ["--port", String(await freePort()), "--ssh-port", String(await freePort())];
    const first = await startCli(ports, home);
    expect(await clientIn(exportLines(first.banner), home)).toMatch(/^hello from/);
    await stop(first.child);
    // No --data-dir: a fresh temporary directory, so a fresh host key on the same port.
    const second = await startCli(ports, home);
    const pin = (banner: string) => /EXE_SSH_HOST_KEY_SHA256=(\S+)/.exec(banner)?.[1];
    expect(pin(second.banner)).not.toBe(pin(first.banner));
    expect(await clientIn(exportLines(second.banner), home)).toMatch(/^hello from/);
    expect(existsSync(join(home, ".ssh"))).toBe(false);
  });

  it("writes the same environment to --write-env, readable by the owner only", async () => {
    const home = mkdtempSync(join(scratch, "home-"));
    const envFile = join(scratch, "emulator.env");
    writeFileSync(envFile, "", { mode: 0o644 });
    const { banner } = await startCli(["--write-env", envFile], home);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    const lines = readFileSync(envFile, "utf8");
    expect(lines.trim().split("\n")).toEqual(
      exportLines(banner)
        .split("\n")
        .map((line) => line.replace(/^\s+export /, "")),
    );
    expect(await clientIn(`set -a; . ${envFile}; set +a`, home)).toMatch(/^hello from/);
    expect(existsSync(join(home, ".ssh"))).toBe(false);
  });
});
