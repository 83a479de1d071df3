import { spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateSshKeyPair } from "@exedev-sandbox/core";
import { logFileReader, testServerFields } from "./server-object.ts";
import { ensureTestUser, passwdEntry, sha256Fingerprint, stopChild } from "./server-process.ts";
import { isRoot, type TestSshServer } from "./sshd.ts";

/**
 * Debian's python3, which has `python3-asyncssh`. Not the `python3` on PATH: that may be a
 * pyenv or venv build without Debian's packages.
 */
export const ASYNCSSH_PYTHON = "/usr/bin/python3";

/** The server script, shipped in this package (servers/asyncssh_server.py). */
export const ASYNCSSH_SERVER_SCRIPT: string = fileURLToPath(
  new URL("../servers/asyncssh_server.py", import.meta.url),
);

/** Options for {@link startAsyncsshServer}. */
export interface StartAsyncsshServerOptions {
  /**
   * Log in as this user; the server process runs as this user (so commands and SFTP do). When
   * the tests run as root and this names another account, the account is created if missing.
   * @default the current user
   */
  username?: string;
  /**
   * The shell that runs each command (`SHELL -c COMMAND`), as a login shell would. Debian's
   * /bin/sh is dash, whose `kill` builtin differs from bash's. @default "/bin/sh"
   */
  shell?: string;
  /**
   * The public-key signature algorithms the server accepts, which are also what its EXT_INFO
   * `server-sig-algs` lists, e.g. `["rsa-sha2-512"]` to see a client sign RSA with SHA-512.
   * @default asyncssh's own list
   */
  signatureAlgs?: string[];
  /** How long to wait for the server to listen (Python starts slowly on a busy machine). @default 20000 */
  startTimeoutMs?: number;
}

/** Whether this machine can run the asyncssh server (Debian python3 with asyncssh). */
export function hasAsyncssh(): boolean {
  if (!existsSync(ASYNCSSH_PYTHON)) return false;
  for (const dir of [
    "/usr/lib/python3/dist-packages/asyncssh",
    "/usr/local/lib/python3/dist-packages/asyncssh",
  ]) {
    if (existsSync(dir)) return true;
  }
  return false;
}

/**
 * Starts the test kit's asyncssh-based SSH server (servers/asyncssh_server.py: exec through
 * `/bin/sh -c` in its own session, asyncssh's SFTP server, public-key auth only) on a free
 * loopback port, with a fresh host key and client key. The same shape as `startSshd()`'s server.
 * The faults are signals to the one Python process: it has no per-connection processes.
 */
export async function startAsyncsshServer(options: StartAsyncsshServerOptions = {}): Promise<TestSshServer> {
  if (!hasAsyncssh()) throw new Error("asyncssh is not installed (apt-get install python3-asyncssh)");
  const username = options.username ?? userInfo().username;
  const other = username !== userInfo().username;
  if (other) {
    if (!isRoot()) throw new Error(`only root can log in as another user (${username})`);
    ensureTestUser(username);
  }
  const account = passwdEntry(username);
  if (!account?.home) throw new Error(`no home directory for ${username}`);

  const dir = mkdtempSync(join(tmpdir(), "exedev-asyncssh-"));
  chmodSync(dir, 0o755);
  const hostKey = generateSshKeyPair();
  const clientKey = generateSshKeyPair("exedev-sandbox-test");
  const hostKeyPath = join(dir, "host_ed25519");
  const authorizedKeysPath = join(dir, "authorized_keys");
  writeFileSync(hostKeyPath, hostKey.privateKey, { mode: 0o600 });
  writeFileSync(authorizedKeysPath, `${clientKey.publicKey}\n`, { mode: 0o644 });
  writeFileSync(join(dir, "known_hosts"), "", { mode: 0o644 });
  if (other) chownSync(hostKeyPath, account.uid, account.gid); // the server runs as that user
  const hostKeyFingerprint = sha256Fingerprint(hostKey.publicKey);

  const logPath = join(dir, "asyncssh.log");
  const readLog = logFileReader(logPath);
  const logFd = openSync(logPath, "a");
  const child = spawn(
    ASYNCSSH_PYTHON,
    [
      ASYNCSSH_SERVER_SCRIPT,
      "--host-key",
      hostKeyPath,
      "--authorized-keys",
      authorizedKeysPath,
      "--username",
      username,
      "--shell",
      options.shell ?? "/bin/sh",
      ...(options.signatureAlgs ? ["--signature-algs", options.signatureAlgs.join(",")] : []),
    ],
    {
      stdio: ["ignore", "pipe", logFd],
      cwd: account.home,
      ...(other ? { uid: account.uid, gid: account.gid } : {}),
      // The commands inherit this environment, as a login would give them.
      env: {
        PATH: "/usr/local/bin:/usr/bin:/bin",
        HOME: account.home,
        USER: username,
        LOGNAME: username,
        SHELL: options.shell ?? "/bin/sh",
        LANG: "C.UTF-8",
        // Debian's cryptography warns about deprecated ciphers asyncssh imports; not our concern.
        PYTHONWARNINGS: "ignore",
      },
    },
  );
  closeSync(logFd);

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let output = "";
      const timer = setTimeout(
        () =>
          reject(new Error(`asyncssh server did not listen within ${options.startTimeoutMs ?? 20_000} ms`)),
        options.startTimeoutMs ?? 20_000,
      );
      child.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /LISTENING (\d+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`asyncssh server exited (${code ?? signal}): ${readLog().slice(-2000)}`));
      });
    });
  } catch (error) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  child.stdout?.resume();
  const signalServer = (signal: NodeJS.Signals): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };

  return {
    ...testServerFields({
      port,
      username,
      clientKey,
      hostKeyFingerprint,
      dir,
      logs: readLog,
      halt: () => stopChild(child),
    }),
    dropConnections: () => signalServer("SIGUSR1"),
    freezeConnections: () => {
      signalServer("SIGUSR2");
      return () => signalServer("SIGUSR1");
    },
  };
}
