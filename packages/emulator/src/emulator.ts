import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { mintToken, type TokenPermissions } from "@exedev-sandbox/core";
import type { GatewayHandle } from "./commands/command.js";
import { COMMAND_NAMES } from "./commands/index.js";
import { FaultState } from "./faults.js";
import { createHttpApi } from "./http-api.js";
import { ProcessRunner } from "./process-runner.js";
import { installSetupShims } from "./setup-unit.js";
import { SshGateway } from "./ssh-gateway.js";
import { loadOrCreateKeyPair, parsePublicKey } from "./ssh-keys.js";
import { StateStore } from "./state-store.js";
import { createVmProxy } from "./vm-proxy.js";

/** Faults to start with; each can also be changed while running through {@link Emulator.faults}. */
export interface EmulatorFaults {
  /**
   * Close SFTP sessions after this long without a request, in ms, like sshd's
   * `ChannelTimeout session:subsystem:sftp=…`.
   * @default undefined (never)
   */
  sftpIdleCloseMs?: number;
  /**
   * Refuse session channels past this many open on one connection, like sshd's `MaxSessions`
   * (the SFTP session counts as one, and a session holds its slot until its command has
   * exited, even after the client closed the channel, as under sshd).
   * @default 10 (OpenSSH's default)
   */
  maxSessionsPerConnection?: number;
  /**
   * Answer the next `count` calls to `POST /exec` with `status` (and `{"error": …}`), without running them.
   * @default undefined (none)
   */
  failNextApiCalls?: { count: number; status: number };
  /**
   * The deadline of each `POST /exec` command, in ms. Past it a lobby command answers 504, and
   * `ssh <vm> …` has its process group killed and its response ended without the exit trailer.
   * @default 30000 (exe.dev's)
   */
  commandDeadlineMs?: number;
  /**
   * How long `new` and `cp` take before answering, in ms, like exe.dev's seconds per VM (so
   * that a warm pool shows its worth). Counts against `commandDeadlineMs`.
   * @default 0
   */
  newDelayMs?: number;
}

/** Options for {@link startEmulator}. */
export interface StartEmulatorOptions {
  /**
   * Where VMs (`vms/<name>/`), registered keys, the host key and `state.json` live. Given a
   * directory, everything survives a restart of the emulator.
   * @default a fresh temporary directory, removed by `stop()`
   */
  dataDir?: string;
  /**
   * Port of the HTTP API (`POST /exec`).
   * @default 0 (any free port)
   */
  httpPort?: number;
  /**
   * Port of the SSH gateway.
   * @default 0 (any free port)
   */
  sshPort?: number;
  /**
   * Port of the HTTP proxy that serves the VMs' URLs: `http://<vm>.localhost:<port>/` reaches the
   * VM's proxy port, `http://<port>.<vm>.localhost:<port>/` its ports 3000–9999.
   * @default 0 (any free port)
   */
  proxyPort?: number;
  /**
   * Address the servers listen on. Keep it on loopback: the emulator isolates nothing.
   * @default "127.0.0.1"
   */
  host?: string;
  /**
   * Faults in force from the start.
   * @default none
   */
  faults?: EmulatorFaults;
}

/** Fault injection on a running emulator. */
export interface EmulatorFaultControls {
  /** Drops every SSH connection at once (TCP reset, no SSH goodbye); the servers keep running. */
  dropConnections(): void;
  /** Closes SFTP sessions idle this long (ms) from now on; `undefined` turns it off. */
  setSftpIdleCloseMs(ms: number | undefined): void;
  /** Refuses session channels past `count` per connection from now on; `undefined` restores OpenSSH's 10. */
  setMaxSessionsPerConnection(count: number | undefined): void;
  /** Sets the deadline of each `/exec` command (ms) from now on; `undefined` restores exe.dev's 30 000. */
  setCommandDeadlineMs(ms: number | undefined): void;
  /** Makes `new` and `cp` take `ms` before answering from now on; `undefined` restores 0. */
  setNewDelayMs(ms: number | undefined): void;
  /** Answers the next `count` API calls with `status`. */
  failNextApiCalls(count: number, status: number): void;
}

/** A running emulator. */
export interface Emulator {
  /** Base URL of the API: the client POSTs to `${apiUrl}/exec`. Use it as `EXE_API_URL` or `baseUrl`. */
  apiUrl: string;
  /** Host of the SSH gateway (the listen address). */
  sshHost: string;
  /** Port of the SSH gateway. */
  sshPort: number;
  /**
   * Port of the HTTP proxy (on `host`) that serves VM URLs by Host header, exe.dev's privacy
   * rules included: `http://<vm>.localhost:<proxyPort>/` and `http://<port>.<vm>.localhost:<proxyPort>/`.
   */
  proxyPort: number;
  /** The data directory (absolute). */
  dataDir: string;
  /**
   * The OpenSSH `SHA256:` fingerprint of the gateway's host key. Pin it (core's `hostKey:
   * { sha256 }`, OpenSSH's `-o FingerprintHash`) instead of trusting the key on first use.
   */
  hostKeyFingerprint: string;
  /**
   * Registers an OpenSSH one-line public key: it may then log in over SSH and sign API tokens.
   * Registering a key twice keeps the first name.
   * @param name - Shown by `whoami` and `ssh-key list`. @default "key-<n>"
   * @throws SandboxError `invalid_argument` when `publicKey` is not a public key line.
   */
  registerKey(publicKey: string, name?: string): void;
  /**
   * Mints an exe0 token signed with the emulator's own key (registered under the name
   * "emulator", its private key at `dataDir/emulator_ed25519`).
   * @param permissions - `cmds` default to every command the emulator knows; pass
   *   `{ cmds: undefined }` explicitly to get exe.dev's default set instead. @default {}
   */
  createToken(permissions?: TokenPermissions): string;
  /** Fault injection, effective immediately. */
  faults: EmulatorFaultControls;
  /**
   * Stops both servers, drops every connection, kills every VM process, and removes the data
   * directory if it was a temporary one. Idempotent.
   */
  stop(): Promise<void>;
}

function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Listens and answers the port it got. */
function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolveListen((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Starts a local exe.dev: the `POST /exec` API (exe0 tokens, lobby commands, exe.dev's JSON
 * shapes and status codes), an SSH gateway with SFTP that routes `vm+<name>` logins to a VM, and
 * an HTTP proxy that serves VM URLs (`http://<vm>.localhost:<proxyPort>/`) with exe.dev's privacy rules.
 * A VM is a directory; its commands run as local processes of the current user. It isolates
 * nothing: use it for development, demos and tests, on loopback.
 *
 * @example
 * const emulator = await startEmulator();
 * emulator.registerKey(publicKeyLine);
 * const api = createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() });
 * const vm = await api.newVm();
 * // ssh -p ${emulator.sshPort} vm+${vm.name}@${emulator.sshHost}
 * await emulator.stop();
 */
export async function startEmulator(options: StartEmulatorOptions = {}): Promise<Emulator> {
  const temporary = options.dataDir === undefined;
  const dataDir = resolve(options.dataDir ?? mkdtempSync(join(tmpdir(), "exedev-emulator-")));
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const host = options.host ?? "127.0.0.1";

  const faults = new FaultState();
  faults.sftpIdleCloseMs = options.faults?.sftpIdleCloseMs;
  faults.maxSessionsPerConnection = options.faults?.maxSessionsPerConnection;
  faults.commandDeadlineMs = options.faults?.commandDeadlineMs;
  faults.newDelayMs = options.faults?.newDelayMs;
  if (options.faults?.failNextApiCalls) {
    faults.failNextApiCalls(options.faults.failNextApiCalls.count, options.faults.failNextApiCalls.status);
  }

  const store = new StateStore(dataDir);
  installSetupShims(dataDir);
  const registerKey = (publicKey: string, name?: string): void => {
    const key = parsePublicKey(publicKey);
    store.addKey({
      publicKey: key.line,
      fingerprint: key.fingerprint,
      name: name ?? `key-${store.keys().length + 1}`,
      addedAt: new Date().toISOString(),
    });
  };
  const ownKey = loadOrCreateKeyPair(join(dataDir, "emulator_ed25519"), "exedev-emulator");
  registerKey(ownKey.publicKey, "emulator");
  const hostKey = loadOrCreateKeyPair(join(dataDir, "host_ed25519"), "exedev-emulator-host");

  const processes = new ProcessRunner(store);
  const gateway = new SshGateway({ hostKey: hostKey.privateKey, store, processes, faults });
  const gatewayHandle: GatewayHandle = {
    host,
    port: 0,
    httpProxyPort: 0,
    disconnect: (vm) => gateway.disconnect(vm),
  };
  const http: Server = createHttpApi({ store, processes, gateway: gatewayHandle, faults });
  const proxy: Server = createVmProxy({ store, listenerPort: () => gatewayHandle.httpProxyPort });
  try {
    gatewayHandle.port = await gateway.listen(options.sshPort ?? 0, host);
    await listen(http, options.httpPort ?? 0, host);
    gatewayHandle.httpProxyPort = await listen(proxy, options.proxyPort ?? 0, host);
  } catch (error) {
    await gateway.close();
    http.close();
    proxy.close();
    if (temporary) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const httpPort = (http.address() as AddressInfo).port;

  let stopping: Promise<void> | undefined;
  return {
    apiUrl: `http://${urlHost(host)}:${httpPort}`,
    sshHost: host,
    sshPort: gatewayHandle.port,
    proxyPort: gatewayHandle.httpProxyPort,
    dataDir,
    hostKeyFingerprint: parsePublicKey(hostKey.publicKey).fingerprint,
    registerKey,
    createToken: (permissions = {}) =>
      mintToken({
        privateKey: ownKey.privateKey,
        permissions: "cmds" in permissions ? permissions : { ...permissions, cmds: [...COMMAND_NAMES] },
      }),
    faults: {
      dropConnections: () => gateway.dropConnections(),
      setSftpIdleCloseMs: (ms) => {
        faults.sftpIdleCloseMs = ms;
      },
      setMaxSessionsPerConnection: (count) => {
        faults.maxSessionsPerConnection = count;
      },
      setCommandDeadlineMs: (ms) => {
        faults.commandDeadlineMs = ms;
      },
      setNewDelayMs: (ms) => {
        faults.newDelayMs = ms;
      },
      failNextApiCalls: (count, status) => faults.failNextApiCalls(count, status),
    },
    stop: () => {
      stopping ??= (async () => {
        processes.killAll();
        http.closeAllConnections();
        proxy.closeAllConnections();
        await Promise.all([
          gateway.close(),
          new Promise<void>((done) => http.close(() => done())),
          new Promise<void>((done) => proxy.close(() => done())),
        ]);
        store.flush();
        if (temporary) rmSync(dataDir, { recursive: true, force: true, maxRetries: 3 });
      })();
      return stopping;
    },
  };
}
