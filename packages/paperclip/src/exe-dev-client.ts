import {
  type ConnectOptions,
  createExeDevApi,
  createExeDevSandbox,
  type ExeDevApi,
  type ExeDevSandbox,
  type HostKeyPolicy,
  type NewVmOptions,
  type VmInfo,
} from "@exedev-sandbox/core";
import { vmOptionsOf } from "./config.js";
import type { ExeDevEnvironmentConfig } from "./config-schema.js";
import { secretText } from "./secret-ref.js";

/** Host-level settings of the plugin worker, not part of any environment's config. */
export interface HostSettings {
  /** Where the API-key fallback (`EXE_API_KEY`, `EXE_API_TOKEN`) is read from. */
  env: NodeJS.ProcessEnv;
  /** known_hosts file for `accept-new` and `strict`. Undefined means core's default (~/.ssh/known_hosts). */
  knownHostsPath: string | undefined;
}

/** What every hook needs to reach exe.dev for one environment. */
export interface ExeDevClient {
  /** The environment's validated config. */
  config: ExeDevEnvironmentConfig;
  /** The control-plane client. */
  api: ExeDevApi;
  /** SSH options for core (the configured port and user win over the VM record's), key material in memory only. */
  ssh: Partial<ConnectOptions>;
}

function hostKeyPolicy(setting: ExeDevEnvironmentConfig["hostKey"]): HostKeyPolicy {
  return setting === "accept-new" || setting === "strict" ? setting : { sha256: setting };
}

/** Builds the API client and SSH options of one environment; secrets must be resolved by now. */
export function exeDevClient(config: ExeDevEnvironmentConfig, host: HostSettings): ExeDevClient {
  // Never undefined: core would then read process.env itself, bypassing `host.env`.
  const token = secretText("apiKey", config.apiKey) ?? (host.env.EXE_API_KEY || host.env.EXE_API_TOKEN || "");
  const api = createExeDevApi({ token, baseUrl: config.apiUrl });
  const ssh: Partial<ConnectOptions> = {
    privateKey: secretText("privateKey", config.privateKey),
    privateKeyPath: config.identityFile,
    username: config.user,
    port: config.port,
    hostKey: hostKeyPolicy(config.hostKey),
    knownHostsPath: host.knownHostsPath,
  };
  return { config, api, ssh };
}

/** `new` options from the config, for a VM with this name. */
export function newVmOptions(config: ExeDevEnvironmentConfig, name: string): NewVmOptions {
  return { name, ...vmOptionsOf(config) };
}

/**
 * Creates a VM (or clones `cloneFrom`), waits until it runs commands, and connects. A VM that
 * never becomes reachable is deleted again by core; a reachable one is the caller's to delete.
 */
export function createVmSandbox(
  client: ExeDevClient,
  name: string,
  cloneFrom: string | undefined,
): Promise<ExeDevSandbox> {
  const { config, api, ssh } = client;
  const source =
    cloneFrom === undefined
      ? { create: newVmOptions(config, name) }
      : { cloneFrom, clone: { name, cpu: config.cpu, memory: config.memory, disk: config.disk } };
  return createExeDevSandbox({ ...ssh, ...source, cleanup: true, api });
}

/** Connects to an existing VM by its record. */
export function attachVmSandbox(client: ExeDevClient, vm: VmInfo): Promise<ExeDevSandbox> {
  return createExeDevSandbox({ ...client.ssh, vm, api: client.api });
}
