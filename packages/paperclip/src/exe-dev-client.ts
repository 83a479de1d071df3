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
import type { ExeDevEnvironmentConfig } from "./config.js";
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
  /** The control-plane client, reporting the configured SSH port in VM records when one is set. */
  api: ExeDevApi;
  /** SSH options for core, key material in memory only. */
  ssh: Partial<ConnectOptions>;
}

function hostKeyPolicy(setting: ExeDevEnvironmentConfig["hostKey"]): HostKeyPolicy {
  return setting === "accept-new" || setting === "strict" ? setting : { sha256: setting };
}

/** The API with every VM record's SSH port replaced, so that core dials the configured port. */
function withPort(api: ExeDevApi, port: number | undefined): ExeDevApi {
  if (port === undefined) return api;
  const patch = (vm: VmInfo): VmInfo => ({ ...vm, sshPort: port });
  return {
    ...api,
    newVm: async (options) => patch(await api.newVm(options)),
    cloneVm: async (source, options) => patch(await api.cloneVm(source, options)),
    getVm: async (name) => {
      const vm = await api.getVm(name);
      return vm && patch(vm);
    },
    listVms: async (pattern) => (await api.listVms(pattern)).map(patch),
  };
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
    hostKey: hostKeyPolicy(config.hostKey),
    knownHostsPath: host.knownHostsPath,
  };
  return { config, api: withPort(api, config.port), ssh };
}

/** `new` options from the config, for a VM with this name. */
export function newVmOptions(config: ExeDevEnvironmentConfig, name: string): NewVmOptions {
  return {
    name,
    image: config.image,
    command: config.command,
    cpu: config.cpu,
    memory: config.memory,
    disk: config.disk,
    comment: config.comment,
    env: config.env,
    integrations: config.integrations,
    tags: config.tags,
    setupScript: config.setupScript,
    prompt: config.prompt,
  };
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
