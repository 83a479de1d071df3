import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { generateSshKeyPair } from "@exedev-sandbox/core";
import { connectionProcessFaults, logFileReader, testServerFields } from "./server-object.ts";
import { descendantsOf, ensureTestUser, freeLoopbackPort, signalAll } from "./server-process.ts";

/** Options for {@link startSshd}. */
export interface StartSshdOptions {
  /**
   * Log in as this user. When the tests run as root and this names another account, the account
   * is created (unprivileged, shell bash) if missing. @default the current user
   */
  username?: string;
  /** sshd `MaxSessions`. @default 10 (OpenSSH's default) */
  maxSessions?: number;
  /** sshd `ChannelTimeout` value, e.g. `"session:subsystem:sftp=2s"`. */
  channelTimeout?: string;
  /**
   * Skip the login user's `.bashrc` for non-interactive commands (`SetEnv SHLVL=1`). This
   * machine's root `.bashrc` runs `pyenv init` (~150 ms per command), which no transport can
   * remove; tests measure the transport, not that. @default true
   */
  cleanShell?: boolean;
  /** Extra sshd_config lines. */
  extraConfig?: string[];
  /**
   * The `Subsystem sftp` command, e.g. `"/bin/sleep 1000"` for a server that never answers the
   * SFTP INIT; `false` for a server without SFTP. @default "internal-sftp"
   */
  sftpSubsystem?: string | false;
}

/**
 * A running SSH server on loopback for tests (OpenSSH, Dropbear, asyncssh), with a generated
 * host key and client key.
 */
export interface TestSshServer {
  host: string;
  port: number;
  username: string;
  /** The client private key (OpenSSH format), authorised for `username`. */
  privateKey: string;
  /** Its public key line. */
  publicKey: string;
  /** The host key's OpenSSH fingerprint (`SHA256:...`). */
  hostKeyFingerprint: string;
  /** A known_hosts file private to this server, empty at start. */
  knownHostsPath: string;
  /** Scratch directory of this server (config, keys, logs). */
  dir: string;
  /** Connect options for core's `connectSandbox`, pinned to this server's host key. */
  connectOptions(): {
    host: string;
    port: number;
    username: string;
    privateKey: string;
    knownHostsPath: string;
    hostKey: { sha256: string };
  };
  /** Kills every per-connection sshd process: clients see their connection drop. The listener stays. */
  dropConnections(): void;
  /** Stops (SIGSTOP) the per-connection processes: a hung server. Returns a function that kills them. */
  freezeConnections(): () => void;
  /** The server's log so far. */
  logs(): string;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
}

/** A running OpenSSH server: a {@link TestSshServer} whose listener can also be restarted. */
export interface SshdServer extends TestSshServer {
  /**
   * Kills the listener and every connection, as a VM restart or an sshd restart does: clients see
   * their connection drop and new connects are refused until {@link SshdServer.start}.
   */
  stopListening(): Promise<void>;
  /** Starts sshd again on the same port with the same host key and config. No-op when running. */
  start(): Promise<void>;
  /** {@link SshdServer.stopListening}, then {@link SshdServer.start} after `downMs`. */
  restart(downMs: number): Promise<void>;
}

/** Where this machine's sshd is, or undefined. */
export function findSshd(): string | undefined {
  for (const candidate of ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]) {
    if (existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync("sh", ["-c", "command -v sshd"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whether this process runs as root. */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The user name the sshd-backed tests use for unprivileged logins when they run as root. */
export const UNPRIVILEGED_TEST_USER = "exedev-test";

function waitForPort(port: number, child: ChildProcess, logPath: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (hasExited(child)) {
        const log = existsSync(logPath) ? readFileSync(logPath, "utf8") : "";
        const how = child.signalCode ?? `code ${child.exitCode}`;
        reject(new Error(`sshd exited (${how}): ${log.slice(-2000)}`));
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
          reject(new Error(`sshd did not listen on port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

/** Whether a child ended; one killed by a signal has `exitCode` null and `signalCode` set. */
function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Ends `child` (SIGTERM) and waits for it, unless it already ended. */
async function endChild(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** Local ports of `/proc/net/tcp{,6}` lines are hex after the address: `0100007F:1F90`. */
function socketInodesOnLocalPort(port: number): Set<string> {
  const inodes = new Set<string>();
  const wanted = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const inode = fields[9];
      if (local?.endsWith(`:${wanted}`) && inode && inode !== "0") inodes.add(inode);
    }
  }
  return inodes;
}

/**
 * Processes holding a socket whose local port is `port`: the server's listener and its
 * per-connection processes. A listener killed by a signal leaves those running, reparented away
 * from it, so they are found by their sockets rather than by ancestry.
 */
function processesOnPort(port: number): number[] {
  const inodes = socketInodesOnLocalPort(port);
  if (inodes.size === 0) return [];
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // ended, or not ours to read
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) {
        found.push(Number(entry));
        break;
      }
    }
  }
  return found;
}

/**
 * Starts the system's OpenSSH `sshd` on a free loopback port, with a fresh host key, a fresh
 * client key and a clean config (public-key auth only, no PAM). Throws when sshd is missing.
 */
export async function startSshd(options: StartSshdOptions = {}): Promise<SshdServer> {
  const sshd = findSshd();
  if (!sshd) throw new Error("sshd is not installed (apt-get install openssh-server)");
  const username = options.username ?? userInfo().username;
  if (username !== userInfo().username) {
    if (!isRoot()) throw new Error(`only root can log in as another user (${username})`);
    ensureTestUser(username);
  }
  if (isRoot()) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // privilege separation dir

  const dir = mkdtempSync(join(tmpdir(), "exedev-sshd-"));
  chmodSync(dir, 0o755); // the login user reads authorized_keys from here
  const hostKey = generateSshKeyPair();
  const clientKey = generateSshKeyPair("exedev-sandbox-test");
  writeFileSync(join(dir, "host_ed25519"), hostKey.privateKey, { mode: 0o600 });
  writeFileSync(join(dir, "authorized_keys"), `${clientKey.publicKey}\n`, { mode: 0o644 });
  writeFileSync(join(dir, "known_hosts"), "", { mode: 0o644 });
  const hostBlob = Buffer.from(hostKey.publicKey.split(" ")[1] ?? "", "base64");
  const hostKeyFingerprint = `SHA256:${createHash("sha256").update(hostBlob).digest("base64").replace(/=+$/, "")}`;

  const port = await freeLoopbackPort();
  const logPath = join(dir, "sshd.log");
  const config = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${join(dir, "host_ed25519")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "PermitRootLogin prohibit-password",
    "StrictModes no",
    `AllowUsers ${username}`,
    `MaxSessions ${options.maxSessions ?? 10}`,
    ...(options.sftpSubsystem === false
      ? []
      : [`Subsystem sftp ${options.sftpSubsystem ?? "internal-sftp"}`]),
    "LogLevel VERBOSE",
    ...(options.cleanShell === false ? [] : ["SetEnv SHLVL=1"]),
    ...(options.channelTimeout ? [`ChannelTimeout ${options.channelTimeout}`] : []),
    ...(options.extraConfig ?? []),
  ];
  writeFileSync(join(dir, "sshd_config"), `${config.join("\n")}\n`);

  const spawnSshd = (): ChildProcess =>
    spawn(sshd, ["-D", "-f", join(dir, "sshd_config"), "-E", logPath], {
      stdio: "ignore",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    });
  let child = spawnSshd();
  try {
    await waitForPort(port, child, logPath);
  } catch (error) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  // With privilege separation the network-facing process is a grandchild of the listener. A
  // listener killed by a signal leaves its connections running, so they are also found by port.
  const connectionPids = (): number[] => {
    const listener = hasExited(child) ? undefined : child.pid;
    const roots = processesOnPort(port).filter((pid) => pid !== listener);
    const all = [...(listener ? descendantsOf(listener) : []), ...roots, ...roots.flatMap(descendantsOf)];
    return [...new Set(all)];
  };

  const stopListening = async (): Promise<void> => {
    // The listener goes first: killed connections make their clients reconnect at once, and a
    // listener still alive then accepts them and forks a session this stop would never kill
    // (a "restarted" server that answered in 13 ms). Then every connection, old or just forked,
    // by ancestry and by port.
    const before = connectionPids();
    await endChild(child);
    signalAll([...new Set([...before, ...connectionPids()])], "SIGKILL");
  };
  const start = async (): Promise<void> => {
    if (!hasExited(child)) return;
    // A client retrying its connection can hold the free port for a moment (a loopback connect to
    // a port without a listener may connect to itself), so a failed bind is tried again.
    for (let attempt = 0; ; attempt++) {
      child = spawnSshd();
      try {
        await waitForPort(port, child, logPath);
        return;
      } catch (error) {
        child.kill("SIGKILL");
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };

  const server: SshdServer = {
    ...testServerFields({
      port,
      username,
      clientKey,
      hostKeyFingerprint,
      dir,
      logs: logFileReader(logPath),
      halt: stopListening,
    }),
    ...connectionProcessFaults(connectionPids),
    stopListening,
    start,
    restart: async (downMs) => {
      await stopListening();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
  };
  return server;
}
