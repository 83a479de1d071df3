import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  fingerprintOf,
  generateSshKeyPair,
  mintToken,
  SandboxError,
  type TokenPermissions,
} from "@exedev-sandbox/core";
import ssh2 from "ssh2";
import { type ApiFaults, createHttpApi } from "./http-api.js";
import { EMULATOR_COMMANDS, LobbyCommands } from "./lobby-commands.js";
import { type SshFaults, SshGateway } from "./ssh-gateway.js";
import { StateStore } from "./state-store.js";
import { VmProcesses } from "./vm-processes.js";

/** Faults to start with; all can also be changed later through {@link Emulator.faults}. */
export interface EmulatorFaults {
  /** Close SFTP sessions idle this long, in ms (like sshd's `ChannelTimeout`). */
  sftpIdleCloseMs?: number;
  /** Refuse channels past this many per connection (like sshd's `MaxSessions`). */
  maxSessionsPerConnection?: number;
  /** Answer the next `count` API calls with `status`. */
  failNextApiCalls?: { count: number; status: number };
}

/** Options for {@link startEmulator}. */
export interface StartEmulatorOptions {
  /** Where VMs (workspace directories), keys and state live; state survives restarts. @default a fresh temporary directory, removed on stop */
  dataDir?: string;
  /** HTTP port for `POST /exec`. @default 0 (any free port) */
  httpPort?: number;
  /** SSH gateway port. @default 0 (any free port) */
  sshPort?: number;
  /** Address to listen on. Keep it on loopback: the emulator isolates nothing. @default "127.0.0.1" */
  host?: string;
  /** Faults to inject from the start. */
  faults?: EmulatorFaults;
}

/** A running emulator. */
export interface Emulator {
  /** Base URL of the API (POST `${apiUrl}/exec`); pass it as `baseUrl` or `EXE_API_URL`. */
  apiUrl: string;
  sshHost: string;
  sshPort: number;
  dataDir: string;
  /** Registers an OpenSSH public key line for SSH logins and API tokens. */
  registerKey(publicKey: string, name?: string): void;
  /** Mints an exe0 token signed by the emulator's own registered key. @default cmds: every emulator command */
  createToken(permissions?: TokenPermissions): string;
  /** Faults to inject while running. */
  faults: {
    dropConnections(): void;
    setSftpIdleCloseMs(ms: number | undefined): void;
    setMaxSessionsPerConnection(count: number | undefined): void;
    failNextApiCalls(count: number, status: number): void;
  };
  /** Stops both servers and every VM process; removes a temporary data directory. */
  stop(): Promise<void>;
}

function loadOrCreateKey(path: string): { private: string; public: string } {
  if (existsSync(path) && existsSync(`${path}.pub`)) {
    return { private: readFileSync(path, "utf8"), public: readFileSync(`${path}.pub`, "utf8").trim() };
  }
  const pair = generateSshKeyPair("exedev-emulator");
  writeFileSync(path, pair.privateKey, { mode: 0o600 });
  writeFileSync(`${path}.pub`, `${pair.publicKey}\n`);
  return { private: pair.privateKey, public: pair.publicKey };
}

/**
 * Starts a local exe.dev: the HTTPS-style `POST /exec` API and an SSH gateway with SFTP, where
 * each VM is a directory whose commands run as local processes of the current user. It isolates
 * nothing; it is for development, demos and tests.
 *
 * @example
 * const emulator = await startEmulator();
 * emulator.registerKey(myPublicKey);
 * const api = createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() });
 */
export async function startEmulator(options: StartEmulatorOptions = {}): Promise<Emulator> {
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "exedev-emulator-"));
  mkdirSync(dataDir, { recursive: true });
  const host = options.host ?? "127.0.0.1";
  const store = new StateStore(dataDir);
  const processes = new VmProcesses();
  const sshFaults: SshFaults = {
    sftpIdleCloseMs: options.faults?.sftpIdleCloseMs,
    maxSessionsPerConnection: options.faults?.maxSessionsPerConnection,
  };
  const apiFaults: ApiFaults = {
    failNext: options.faults?.failNextApiCalls && { ...options.faults.failNextApiCalls },
  };

  const registerKey = (publicKey: string, name?: string): void => {
    const line = publicKey.trim();
    const parsed = ssh2.utils.parseKey(line);
    if (parsed instanceof Error || parsed.isPrivateKey()) {
      throw new SandboxError(
        "invalid_argument",
        "registerKey needs an OpenSSH public key line (ssh-ed25519 AAAA…).",
      );
    }
    const fingerprint = fingerprintOf(parsed.getPublicSSH());
    store.addKey({
      publicKey: line,
      fingerprint,
      name: name ?? `key-${store.keys().length + 1}`,
      addedAt: new Date().toISOString(),
    });
  };
  const ownKey = loadOrCreateKey(join(dataDir, "emulator_ed25519"));
  registerKey(ownKey.public, "emulator");
  const hostKey = loadOrCreateKey(join(dataDir, "host_ed25519"));

  let sshPort = 0;
  const gateway = new SshGateway(hostKey.private, store, processes, sshFaults);
  const commands = new LobbyCommands(store, processes, () => ({ host, port: sshPort }));
  const http: Server = createHttpApi(store, commands, apiFaults);
  sshPort = await gateway.listen(options.sshPort ?? 0, host);
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.httpPort ?? 0, host, () => resolve());
  });
  const httpPort = (http.address() as AddressInfo).port;

  let stopping: Promise<void> | undefined;
  return {
    apiUrl: `http://${host.includes(":") ? `[${host}]` : host}:${httpPort}`,
    sshHost: host,
    sshPort,
    dataDir,
    registerKey,
    createToken: (permissions = {}) =>
      mintToken({
        privateKey: ownKey.private,
        permissions: { cmds: Object.keys(EMULATOR_COMMANDS), ...permissions },
      }),
    faults: {
      dropConnections: () => gateway.dropConnections(),
      setSftpIdleCloseMs: (ms) => {
        sshFaults.sftpIdleCloseMs = ms;
      },
      setMaxSessionsPerConnection: (count) => {
        sshFaults.maxSessionsPerConnection = count;
      },
      failNextApiCalls: (count, status) => {
        apiFaults.failNext = { count, status };
      },
    },
    stop: () => {
      stopping ??= (async () => {
        processes.killEverything();
        http.closeAllConnections();
        await Promise.all([gateway.close(), new Promise<void>((resolve) => http.close(() => resolve()))]);
        if (temporary) rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
