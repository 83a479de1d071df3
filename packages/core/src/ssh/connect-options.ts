import { userInfo } from "node:os";
import { join } from "node:path";
import type { TransportChoice } from "../agent/agent-transport.js";
import { invalidArgument } from "../errors.js";
import { checkDurationMs, checkPositiveInteger } from "../validate.js";
import { expandHome, homeDir } from "./home-path.js";
import {
  checkHostKeyPolicy,
  checkKnownHostsPath,
  type HostKeyPolicy,
  policyReadsKnownHosts,
} from "./host-key.js";

/** Options for {@link connectSandbox}: where to connect and how to authenticate. */
export interface ConnectOptions {
  /** Host name or address of the SSH server. */
  host: string;
  /** TCP port. @default 22 */
  port?: number;
  /** Login name. exe.dev ignores it for `<vm>.exe.xyz` hosts; `vm+<name>` routes on gateways. @default the local user name */
  username?: string;
  /** A private key (OpenSSH or PEM), tried first. Kept in memory only. */
  privateKey?: string | Uint8Array;
  /** A private key file, tried after `agent`; a leading `~/` means the home directory. */
  privateKeyPath?: string;
  /** Passphrase for an encrypted private key. */
  passphrase?: string;
  /** Path of an SSH agent socket, tried after `privateKey`. @default `$SSH_AUTH_SOCK`, tried last */
  agent?: string;
  /**
   * Host-key policy. `$EXE_SSH_HOST_KEY_SHA256` (a `SHA256:…` fingerprint, as the emulator's CLI
   * prints it) pins the key when this option is not given.
   * @default `{ sha256: $EXE_SSH_HOST_KEY_SHA256 }` when set, else "accept-new"
   */
  hostKey?: HostKeyPolicy;
  /** The known_hosts file the policy reads and `accept-new` appends to. @default ~/.ssh/known_hosts */
  knownHostsPath?: string;
  /** Interval of SSH keepalive probes; 3 unanswered probes drop the connection. 0 turns them off. @default 10000 */
  keepaliveIntervalMs?: number;
  /** Longest wait for one TCP connect plus SSH handshake. @default 20000 */
  readyTimeoutMs?: number;
  /** Most channels open at once on the connection, SFTP included; match the server's `MaxSessions`. @default 10 */
  maxChannels?: number;
  /** Keep retrying network errors (refused, unreachable, DNS, dropped handshakes) this long; never auth or host-key failures. @default 0 (one attempt) */
  connectRetryMs?: number;
  /**
   * After a connection that worked is lost, keep trying to reconnect this long: a VM restart or
   * an sshd restart is survived. Calls made meanwhile wait for the connection and then run; once
   * the budget is spent the sandbox fails with `sandbox_died` for good. 0 makes one reconnect
   * attempt and gives up at once. The budget is counted from the first reconnect attempt after
   * the loss. Auth and host-key failures are never retried.
   * @default 60000
   */
  reconnectMs?: number;
  /** Deadline for each SFTP request; a silent server then gets its SFTP session reopened. @default 60000 */
  sftpTimeoutMs?: number;
  /**
   * How commands and files travel. `"agent"`: a small helper started in the VM (perl, which
   * every Debian and Ubuntu machine has) serves every operation over one SSH channel, one
   * round trip each, with no `MaxSessions` ceiling; fails with `unsupported` when it cannot
   * start. `"channels"`: an SSH channel per command and SFTP for files. `"auto"`: the agent when
   * it starts, else the channels. `sandbox.transport` tells which is in use.
   * @default "auto"
   */
  transport?: TransportChoice;
}

/** Connect options with defaults applied and validated. */
export interface ResolvedConnectOptions {
  host: string;
  port: number;
  username: string;
  privateKey: string | Uint8Array | undefined;
  privateKeyPath: string | undefined;
  passphrase: string | undefined;
  agent: string | undefined;
  hostKey: HostKeyPolicy;
  knownHostsPath: string;
  keepaliveIntervalMs: number;
  readyTimeoutMs: number;
  maxChannels: number;
  connectRetryMs: number;
  reconnectMs: number;
  sftpTimeoutMs: number;
  transport: TransportChoice;
}

function defaultUsername(): string {
  try {
    return process.env.USER || userInfo().username;
  } catch {
    return "root";
  }
}

/** Validates connect options before any I/O and fills in defaults. */
export function resolveConnectOptions(options: ConnectOptions): ResolvedConnectOptions {
  if (typeof options !== "object" || options === null) {
    throw invalidArgument("connectSandbox needs an options object with at least `host`.");
  }
  const { host } = options;
  if (typeof host !== "string" || host.length === 0 || /[\s\0]/.test(host)) {
    throw invalidArgument("host must be a non-empty host name or address without spaces.");
  }
  // `null` is not "unset": only a missing option takes the default, so a null port is refused.
  const port = options.port === undefined ? 22 : options.port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalidArgument("port must be a whole number from 1 to 65535.", { port });
  }
  const username = options.username === undefined ? defaultUsername() : options.username;
  if (typeof username !== "string" || username.length === 0 || /[\s\0]/.test(username)) {
    throw invalidArgument("username must be a non-empty string without spaces.");
  }
  if (options.passphrase !== undefined && typeof options.passphrase !== "string") {
    throw invalidArgument("passphrase must be a string.");
  }
  if (
    options.privateKeyPath !== undefined &&
    (typeof options.privateKeyPath !== "string" || !options.privateKeyPath)
  ) {
    throw invalidArgument("privateKeyPath must be a non-empty string.");
  }
  if (
    options.knownHostsPath !== undefined &&
    (typeof options.knownHostsPath !== "string" || !options.knownHostsPath)
  ) {
    throw invalidArgument("knownHostsPath must be a non-empty string.");
  }
  const maxChannels = checkPositiveInteger(options.maxChannels, "maxChannels") ?? 10;
  if (maxChannels < 2) {
    throw invalidArgument(
      "maxChannels must be at least 2 (one slot is kept for killing timed-out commands).",
    );
  }
  const hostKey = options.hostKey === undefined ? hostKeyFromEnv() : checkHostKeyPolicy(options.hostKey);
  const knownHostsPath =
    options.knownHostsPath === undefined
      ? join(homeDir(), ".ssh", "known_hosts")
      : expandHome(options.knownHostsPath);
  if (policyReadsKnownHosts(hostKey)) checkKnownHostsPath(knownHostsPath);
  return {
    host,
    port,
    username,
    privateKey: options.privateKey,
    privateKeyPath: options.privateKeyPath === undefined ? undefined : expandHome(options.privateKeyPath),
    passphrase: options.passphrase,
    agent: options.agent,
    hostKey,
    knownHostsPath,
    keepaliveIntervalMs: checkDurationMs(options.keepaliveIntervalMs, "keepaliveIntervalMs") ?? 10_000,
    readyTimeoutMs: checkDurationMs(options.readyTimeoutMs, "readyTimeoutMs") ?? 20_000,
    maxChannels,
    connectRetryMs: checkDurationMs(options.connectRetryMs, "connectRetryMs") ?? 0,
    reconnectMs: checkDurationMs(options.reconnectMs, "reconnectMs") ?? 60_000,
    sftpTimeoutMs: checkDurationMs(options.sftpTimeoutMs, "sftpTimeoutMs") ?? 60_000,
    transport: checkTransport(options.transport),
  };
}

/** The policy `$EXE_SSH_HOST_KEY_SHA256` pins, else the default; a malformed value is refused. */
function hostKeyFromEnv(): HostKeyPolicy {
  const pinned = process.env.EXE_SSH_HOST_KEY_SHA256;
  if (!pinned) return checkHostKeyPolicy(undefined);
  try {
    return checkHostKeyPolicy({ sha256: pinned });
  } catch {
    throw invalidArgument(
      'EXE_SSH_HOST_KEY_SHA256 must be an OpenSSH fingerprint such as "SHA256:JJOP/lwi...".',
      { option: "EXE_SSH_HOST_KEY_SHA256" },
    );
  }
}

function checkTransport(value: unknown): TransportChoice {
  if (value === undefined) return "auto";
  if (value === "auto" || value === "agent" || value === "channels") return value;
  throw invalidArgument('transport must be "auto", "agent" or "channels".', { transport: value });
}
