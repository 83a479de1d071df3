// Test support (not part of the build): a minimal asyncssh server with asyncssh's stock SFTP
// server, which, unlike OpenSSH's, refuses to open a directory. Debian's python3 only.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSshKeyPair } from "./key-pair.js";

/** Debian's python3, which has asyncssh (the one on PATH may not). */
export const DEBIAN_PYTHON = "/usr/bin/python3";

const SERVER_SCRIPT = `
import asyncio, sys, asyncssh

async def run_command(process):
    child = await asyncio.create_subprocess_shell(
        process.command or "true", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    await process.redirect(stdin=child.stdin, stdout=child.stdout, stderr=child.stderr)
    process.exit(await child.wait())

async def main():
    key_dir = sys.argv[1]
    server = await asyncssh.listen(
        "127.0.0.1", 0, server_host_keys=[key_dir + "/host"],
        authorized_client_keys=key_dir + "/authorized_keys",
        process_factory=run_command, sftp_factory=True, encoding=None)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
`;

/** A running asyncssh server. */
export interface AsyncsshServer {
  host: string;
  port: number;
  username: string;
  privateKey: string;
  stop(): Promise<void>;
}

/** Whether the asyncssh server can run here. */
export function hasAsyncssh(): boolean {
  return existsSync(DEBIAN_PYTHON);
}

/** Starts the asyncssh server on a free loopback port; logins as the current user by key. */
export async function startAsyncsshSftp(username: string): Promise<AsyncsshServer> {
  const dir = mkdtempSync(join(tmpdir(), "exedev-asyncssh-"));
  const host = generateSshKeyPair();
  const client = generateSshKeyPair("asyncssh-test");
  writeFileSync(join(dir, "host"), host.privateKey, { mode: 0o600 });
  writeFileSync(join(dir, "authorized_keys"), `${client.publicKey}\n`);
  writeFileSync(join(dir, "server.py"), SERVER_SCRIPT);
  const child: ChildProcess = spawn(DEBIAN_PYTHON, ["-W", "ignore", join(dir, "server.py"), dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`asyncssh did not start: ${stderr}`)), 20_000);
    child.stdout?.once("data", (chunk: Buffer) => {
      clearTimeout(timer);
      resolve(Number(chunk.toString().trim()));
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`asyncssh exited with ${code}: ${stderr}`));
    });
  });
  return {
    host: "127.0.0.1",
    port,
    username,
    privateKey: client.privateKey,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
