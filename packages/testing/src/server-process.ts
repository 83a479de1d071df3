import { type ChildProcess, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { connect, createServer } from "node:net";

/**
 * Helpers shared by the test kit's non-OpenSSH servers (Dropbear, asyncssh): ports, process
 * trees, test users. Kept apart from sshd.ts so each starter stays one file with one purpose.
 */

/** A free TCP port on 127.0.0.1 (the kernel's pick; released before it is returned). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/**
 * Resolves once `port` accepts connections; rejects when `child` exits first (with the tail of
 * `readLog()`, which is where a server says why) or after `timeoutMs`.
 * @default timeoutMs 15000 (a shared 2-core machine can be slow to start Python)
 */
export function waitForListener(
  name: string,
  port: number,
  child: ChildProcess,
  readLog: () => string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(
          new Error(`${name} exited (${child.exitCode ?? child.signalCode}): ${readLog().slice(-2000)}`),
        );
        return;
      }
      const socket = connect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve();
      });
      socket.once("error", () => {
        socket.destroy();
        if (Date.now() > deadline)
          reject(new Error(`${name} did not listen on port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

/** Direct children of `pid`, read from /proc. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 is the parent pid; the command name (field 2) may contain spaces, so split after ')'.
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === pid) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

/** All descendants of `pid`, children first. */
export function descendantsOf(pid: number): number[] {
  const children = childrenOf(pid);
  return [...children, ...children.flatMap(descendantsOf)];
}

/** Sends `signal` to each pid, ignoring the ones already gone. */
export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** Waits for `child` to exit, sending SIGTERM and then, after `graceMs`, SIGKILL. @default graceMs 3000 */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  // A child killed by a signal has exitCode null but signalCode set: it is gone all the same.
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** The OpenSSH fingerprint (`SHA256:...`, unpadded base64) of a public key line. */
export function sha256Fingerprint(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.trim().split(/\s+/)[1] ?? "", "base64");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** A user's passwd entry: uid, gid, home. */
export interface PasswdEntry {
  uid: number;
  gid: number;
  home: string;
}

/** The passwd entry of `name` (via `getent`), or undefined when there is no such user. */
export function passwdEntry(name: string): PasswdEntry | undefined {
  try {
    const line = execFileSync("getent", ["passwd", name], { encoding: "utf8" }).trim();
    const fields = line.split(":");
    return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? "" };
  } catch {
    return undefined;
  }
}

/**
 * Creates `name` (unprivileged, home under /home, shell bash) when missing, and unlocks it for
 * key logins. Root only.
 */
export function ensureTestUser(name: string): PasswdEntry {
  if (!passwdEntry(name)) {
    try {
      execFileSync("useradd", ["--create-home", "--shell", "/bin/bash", name], { stdio: "ignore" });
    } catch (error) {
      // Another test file may have created it at the same moment.
      if (!passwdEntry(name)) throw error;
    }
  }
  // useradd leaves the password field "!" (locked); sshd and Dropbear refuse locked accounts,
  // even for public-key logins. "*" means "no password" without "locked".
  execFileSync("usermod", ["-p", "*", name], { stdio: "ignore" });
  const entry = passwdEntry(name);
  if (!entry) throw new Error(`could not create the test user ${name}`);
  return entry;
}
