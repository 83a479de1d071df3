import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { generateSshKeyPair } from "@exedev-sandbox/core";
import { connectionProcessFaults, logFileReader, testServerFields } from "./server-object.ts";
import {
  descendantsOf,
  ensureTestUser,
  freeLoopbackPort,
  passwdEntry,
  sha256Fingerprint,
  signalAll,
  stopChild,
  waitForListener,
} from "./server-process.ts";
import { isRoot, type TestSshServer } from "./sshd.ts";

/** Where Debian's `dropbear-bin` puts the server. */
const DROPBEAR_PATHS = ["/usr/sbin/dropbear", "/usr/local/sbin/dropbear", "/sbin/dropbear"];

/**
 * The SFTP server Dropbear execs for the `sftp` subsystem. It is compiled in (`SFTPSERVER_PATH`);
 * Debian's build uses this path, which `openssh-sftp-server` provides (a link to
 * /usr/lib/openssh/sftp-server).
 */
export const DROPBEAR_SFTP_SERVER_PATH = "/usr/lib/sftp-server";

/** Options for {@link startDropbear}. */
export interface StartDropbearOptions {
  /**
   * Log in as this user. When the tests run as root and this names another account, the account
   * is created (unprivileged, shell bash) if missing. @default the current user
   */
  username?: string;
  /**
   * Skip the login user's `.bashrc` for non-interactive commands (Dropbear passes its own
   * environment on, `-e`, with `SHLVL=1`). See `StartSshdOptions.cleanShell`. @default true
   */
  cleanShell?: boolean;
  /** Extra command-line arguments for `dropbear`. */
  extraArgs?: string[];
}

/** A running Dropbear server on loopback; the same shape as `startSshd()`'s. */
export interface DropbearServer extends TestSshServer {
  /** The SFTP server binary this Dropbear runs for the `sftp` subsystem. */
  sftpServerPath: string;
}

/** Where this machine's Dropbear server is, or undefined. */
export function findDropbear(): string | undefined {
  return DROPBEAR_PATHS.find((candidate) => existsSync(candidate));
}

/** The public key line of a Dropbear key file (`dropbearkey -y` prints it among other lines). */
function dropbearPublicKey(keyPath: string): string {
  const output = execFileSync("dropbearkey", ["-y", "-f", keyPath], { encoding: "utf8" });
  const line = output.split("\n").find((candidate) => candidate.startsWith("ssh-"));
  if (!line) throw new Error(`dropbearkey -y printed no public key: ${output}`);
  return line.trim();
}

/**
 * Starts the system's Dropbear (`dropbear-bin`) on a free loopback port with a fresh ed25519
 * host key and client key, public-key auth only, in the foreground. Throws when Dropbear is
 * missing.
 *
 * Dropbear has no `AuthorizedKeysFile` option: it only reads `~/.ssh/authorized_keys` of the
 * login user. So that a test never touches a real `~/.ssh` (root's, on this machine), the server
 * runs in its own mount namespace (`unshare --mount`, private propagation) where this server's
 * scratch `ssh` directory is bind-mounted over the login user's `~/.ssh`. Every server sees only
 * its own key, parallel servers do not race on one file, and nothing needs restoring after a
 * crash. (If `~/.ssh` does not exist it is created, empty, as the mount point, and left in place:
 * removing it could detach another running server's mount.) Needs root, or for a non-root user
 * unprivileged user namespaces (then Dropbear can only log in as that user).
 */
export async function startDropbear(options: StartDropbearOptions = {}): Promise<DropbearServer> {
  const dropbear = findDropbear();
  if (!dropbear) throw new Error("dropbear is not installed (apt-get install dropbear-bin)");
  const username = options.username ?? userInfo().username;
  if (username !== userInfo().username) {
    if (!isRoot()) throw new Error(`only root can log in as another user (${username})`);
    ensureTestUser(username);
  }
  const account = passwdEntry(username);
  if (!account?.home) throw new Error(`no home directory for ${username}`);

  const dir = mkdtempSync(join(tmpdir(), "exedev-dropbear-"));
  chmodSync(dir, 0o755);
  const sshDir = join(dir, "ssh");
  mkdirSync(sshDir, { mode: 0o700 });
  const clientKey = generateSshKeyPair("exedev-sandbox-test");
  const authorizedKeys = join(sshDir, "authorized_keys");
  writeFileSync(authorizedKeys, `${clientKey.publicKey}\n`, { mode: 0o600 });
  // Dropbear refuses keys in a directory or file the login user does not own.
  if (isRoot()) {
    chownSync(sshDir, account.uid, account.gid);
    chownSync(authorizedKeys, account.uid, account.gid);
  }
  const mountPoint = join(account.home, ".ssh");
  if (!existsSync(mountPoint)) {
    mkdirSync(mountPoint, { mode: 0o700 });
    if (isRoot()) chownSync(mountPoint, account.uid, account.gid);
  }

  const hostKeyPath = join(dir, "host_ed25519");
  execFileSync("dropbearkey", ["-t", "ed25519", "-f", hostKeyPath], { stdio: "ignore" });
  const hostKeyFingerprint = sha256Fingerprint(dropbearPublicKey(hostKeyPath));
  writeFileSync(join(dir, "known_hosts"), "", { mode: 0o644 });

  const port = await freeLoopbackPort();
  const logPath = join(dir, "dropbear.log");
  const readLog = logFileReader(logPath);
  const dropbearArgs = [
    "-F", // foreground: the child we spawn is the listener
    "-E", // log to stderr (our log file), not syslog
    "-s", // no password logins
    "-g", // no password logins for root either
    "-m", // no motd
    "-p",
    `127.0.0.1:${port}`,
    "-r",
    hostKeyPath,
    "-P",
    join(dir, "dropbear.pid"),
    ...(options.cleanShell === false ? [] : ["-e"]),
    ...(options.extraArgs ?? []),
  ];
  // Without root, a user namespace where we are root lends the right to mount; a nested one
  // then maps us back to our own uid, so Dropbear runs (and logs in) as this user.
  const namespaceArgs = isRoot()
    ? ["--mount", "--propagation", "private"]
    : ["--user", "--map-root-user", "--mount", "--propagation", "private"];
  const asSelf = isRoot()
    ? []
    : ["unshare", "--user", `--map-user=${account.uid}`, `--map-group=${account.gid}`, "--"];
  const logFd = openSync(logPath, "a");
  let child: ChildProcess;
  try {
    // `unshare` and `sh` only exec, so the spawned pid is dropbear's own: the listener.
    child = spawn(
      "unshare",
      [
        ...namespaceArgs,
        "--",
        "/bin/sh",
        "-c",
        'mount --bind "$1" "$2" && shift 2 && exec "$@"',
        "sh",
        sshDir,
        mountPoint,
        ...asSelf,
        dropbear,
        ...dropbearArgs,
      ],
      {
        stdio: ["ignore", logFd, logFd],
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          ...(options.cleanShell === false ? {} : { SHLVL: "1" }),
        },
      },
    );
  } finally {
    closeSync(logFd);
  }
  try {
    await waitForListener("dropbear", port, child, readLog);
  } catch (error) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const listenerPid = child.pid ?? 0;

  return {
    ...testServerFields({
      port,
      username,
      clientKey,
      hostKeyFingerprint,
      dir,
      logs: readLog,
      halt: async () => {
        signalAll(descendantsOf(listenerPid), "SIGKILL");
        await stopChild(child);
      },
    }),
    sftpServerPath: DROPBEAR_SFTP_SERVER_PATH,
    // Dropbear forks one process per connection, which forks the commands: all are descendants.
    ...connectionProcessFaults(() => descendantsOf(listenerPid)),
  };
}
