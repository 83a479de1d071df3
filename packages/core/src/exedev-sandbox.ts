import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import type { Transport } from "./agent/agent-transport.js";
import { deleteVm as deleteOneVm } from "./api/delete-vm.js";
import { createExeDevApi, type ExeDevApi } from "./api/exe-dev-api.js";
import type { VmInfo } from "./api/vm-info.js";
import type { CloneVmOptions, NewVmOptions } from "./api/vm-options.js";
import { isSandboxError, SandboxError } from "./errors.js";
import { type ExeDevPlan, planExeDevSandbox } from "./exedev-options.js";
import type { AttachTarget } from "./exedev-target.js";
import { getOrCreateVm } from "./fleet/get-or-create.js";
import { extendVmTtl, markClone } from "./fleet/vm-lifetime.js";
import { checkTtlMs, markTags } from "./fleet/vm-marks.js";
import { createExeDevShares } from "./reach/exe-dev-shares.js";
import { createVmFetch, type VmSigningKey } from "./reach/vm-fetch.js";
import { resolveSigningKey } from "./reach/vm-signing-key.js";
import { vmUrl } from "./reach/vm-url.js";
import type {
  ExeDevReach,
  ExeDevShares,
  ExposedPort,
  ExposeLocalPortOptions,
  ForwardPortOptions,
  PortForward,
  PortForwarding,
  SandboxFetchInit,
} from "./reach.js";
import type { Sandbox } from "./sandbox.js";
import { planSetupWait, type WaitForSetupOption, waitForSetupScript } from "./setup-wait.js";
import {
  type ConnectOptions,
  type ResolvedConnectOptions,
  resolveConnectOptions,
} from "./ssh/connect-options.js";
import { PortForwards } from "./ssh/port-forwards.js";
import { connectionLinkOf, SshSandbox } from "./ssh/ssh-sandbox.js";
import { checkDurationMs } from "./validate.js";

/** How long a new or cloned VM is given to accept SSH and answer the readiness probe. */
const NEW_VM_READY_MS = 90_000;
/** How long a restarted VM is given to answer again; exe.dev restarts take seconds to tens of seconds. */
const RESTART_READY_MS = 120_000;
/** Pause between two readiness attempts on a VM that is still starting. */
const READY_RETRY_DELAY_MS = 1_000;

/** Options for {@link createExeDevSandbox}: which VM, plus the SSH options of {@link ConnectOptions}. */
export interface ExeDevSandboxOptions extends Partial<ConnectOptions> {
  /**
   * Attach to this VM: a name (`my-vm`), a host (`my-vm.exe.xyz`), an `ssh_dest`
   * (`vm+my-vm@exe.dev`), or a {@link VmInfo}. @default `$EXE_VM_HOST` when neither `create`
   * nor `cloneFrom` is given
   */
  vm?: string | VmInfo;
  /** Create a new VM (`true`, or options for `new`). Its name is generated unless given. */
  create?: NewVmOptions | boolean;
  /** Create the VM by cloning this one (`cp`), e.g. a prepared base VM. */
  cloneFrom?: string;
  /** Options for the clone (`cpu`, `memory`, `disk`, `copyTags`, `name`); only with `cloneFrom`. */
  clone?: CloneVmOptions;
  /** Delete the VM on `dispose()`. Only ever applies to a VM this call created or cloned. @default true for created or cloned VMs */
  cleanup?: boolean;
  /** The API client for create, clone, look-up, restart and delete. @default createExeDevApi() (reads $EXE_API_TOKEN, $EXE_API_URL) */
  api?: ExeDevApi;
  /**
   * Attach to the VM named `name` (or `create.name`) when it exists, create it (with `create`'s
   * options) when not; `{ tag }` finds a VM carrying the tag first, and otherwise creates one
   * named after the tag, with the tag. Safe when callers race: exe.dev takes each name once, so
   * exactly one creates the VM and the others attach to it. Such a VM is kept on `dispose()`
   * unless `cleanup: true` (others may be using it). @default false
   */
  getOrCreate?: boolean | { tag: string };
  /** The VM's name for `getOrCreate`. @default `create.name`, or one made from the tag */
  name?: string;
  /**
   * Resolve only after the VM's setup script (`create.setupScript`) has finished, polling
   * exeuntu's `exe-setup` unit over SSH every 500 ms; a failed script rejects with
   * `sandbox_died` (its log's tail in `details.logTail`), no end within `timeoutMs` with
   * `timeout`, and a VM this call created is then deleted when `cleanup` applies. `true` also
   * waits for a script given some other way (an account default, a cloned or attached VM).
   * @default true with a timeout of 600000 (10 minutes) when `create.setupScript` is given, else false
   */
  waitForSetup?: WaitForSetupOption;
  /**
   * Lifetime of a VM this call creates or clones: it is tagged `exedev-sandbox` and
   * `exedev-expires-<unix seconds>`, and once that moment has passed {@link reapVms} (or
   * `npx @exedev-sandbox/core reap`) deletes it, should this process die without `dispose()`.
   * `null` (or `Infinity`) marks it without an expiry. exe.dev itself never deletes a VM.
   * @default 86400000 (24 hours)
   */
  ttlMs?: number | null;
}

/** Options for {@link ExeDevSandbox.restart}. */
export interface RestartOptions {
  /** How long the VM is given, after the API's `restart` returned, to answer over SSH again. @default 120000 */
  timeoutMs?: number;
}

/** A {@link Sandbox} on an exe.dev VM, with the VM's record and a lifecycle. */
export interface ExeDevSandbox extends Sandbox, ExeDevReach, PortForwarding {
  /** The VM's record as the API returned it (or as built from `vm`). */
  readonly vm: VmInfo;
  /** Whether this sandbox created (or cloned) the VM. */
  readonly created: boolean;
  /**
   * Restarts the VM (the API's `restart`: every process on it is killed) and waits until it runs
   * commands again, on a new connection; the sandbox keeps working afterwards. Calls made while
   * it restarts wait for it; calls running when it starts are killed with the VM's processes and
   * reject. When the VM does not answer within `timeoutMs`, calls reject with `sandbox_died`
   * until a later `restart()` succeeds. Concurrent calls share one restart.
   */
  restart(options?: RestartOptions): Promise<void>;
  /** Closes the connection and, with `cleanup`, deletes a VM this sandbox created. Safe to call again: a VM already gone counts as deleted, and after a failed delete the next call tries again. */
  dispose(): Promise<void>;
  /** Same as {@link ExeDevSandbox.dispose}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
  /**
   * Moves the VM's expiry `ms` later (from now when it has none or it has passed): tags the new
   * `exedev-expires-…` and removes the old. Only for VMs carrying the `exedev-sandbox` mark.
   * @returns the new expiry
   * @throws SandboxError `invalid_argument` for a bad `ms` (before any request); `unsupported` for an unmarked VM.
   */
  extendTtl(ms: number): Promise<Date>;
}

/**
 * exe.dev lets an SSH key it does not know log in, to its lobby, which answers every command
 * with "Please complete registration by running: ssh exe.dev" and exit status 1.
 */
function isRegistrationPrompt(output: string): boolean {
  return /please complete registration/i.test(output);
}

function unregisteredKeyError(): SandboxError {
  return new SandboxError(
    "auth_failed",
    'exe.dev does not know this SSH key: it answered "Please complete registration by running: ssh exe.dev". ' +
      "Register the key once (run `ssh exe.dev` with it and follow the e-mail step, or add it from an account that " +
      "has one: `ssh exe.dev ssh-key add < key.pub`), or pass the key you registered (privateKeyPath, EXE_SSH_KEY).",
    { details: { reason: "unregistered_key" } },
  );
}

async function probe(sandbox: SshSandbox): Promise<void> {
  // The lobby can answer a connection meant for a VM; only the VM echoes our nonce back.
  const nonce = `exedev-ready-${randomBytes(8).toString("hex")}`;
  const result = await sandbox.exec(`echo ${nonce}`, { timeoutMs: 15_000 });
  if (result.stdout.trim() !== nonce && isRegistrationPrompt(`${result.stdout}\n${result.stderr}`)) {
    throw unregisteredKeyError();
  }
  if (result.stdout.trim() !== nonce) {
    throw new SandboxError(
      "connection_failed",
      "The SSH server answered, but not as the VM (the readiness probe did not echo back).",
      { retryable: true },
    );
  }
}

/**
 * Connects and probes; with `waitMs` > 0 (a VM that is still starting or restarting) retries
 * retryable failures until then. The waits are ordinary ref'd timers: a script awaiting this
 * must not exit (code 13) while nothing else keeps Node alive. `signal` (the sandbox closing)
 * stops the attempts at once, so that nothing keeps running for a sandbox nobody waits for.
 */
async function connectAndProbe(
  options: ResolvedConnectOptions,
  waitMs: number,
  signal?: AbortSignal,
): Promise<SshSandbox> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (signal?.aborted) throw closedError();
    const remainingMs = Math.max(0, deadline - Date.now());
    const sandbox = new SshSandbox({
      ...options,
      connectRetryMs: waitMs > 0 ? Math.min(options.connectRetryMs, remainingMs) : options.connectRetryMs,
    });
    const stop = () => void sandbox.close();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      await sandbox.open();
      await probe(sandbox);
      if (signal?.aborted) throw closedError();
      return sandbox;
    } catch (error) {
      await sandbox.close();
      if (signal?.aborted) throw closedError();
      const retry = waitMs > 0 && isSandboxError(error) && error.retryable && Date.now() < deadline;
      if (!retry) throw error;
      await pause(READY_RETRY_DELAY_MS, signal);
    } finally {
      signal?.removeEventListener("abort", stop);
    }
  }
}

/** Waits `ms` (a ref'd timer), or less when `signal` fires. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

function closedError(): SandboxError {
  return new SandboxError("closed", "The sandbox was closed; create a new one to continue.", {
    retryable: false,
  });
}

/**
 * The sandbox behind {@link createExeDevSandbox}. It forwards to one {@link SshSandbox} at a
 * time and swaps in a new one after a restart. Connection options (keys, passphrase) and the API
 * client live in private fields and closures only, and `util.inspect` shows a summary, so that
 * logging a sandbox never prints a secret.
 */
class ExeDevSshSandbox implements ExeDevSandbox {
  vm: VmInfo;
  readonly created: boolean;
  #current: SshSandbox;
  #restarting: Promise<void> | undefined;
  #dead: SandboxError | undefined;
  #closed = false;
  #disposing: Promise<void> | undefined;
  readonly #closing = new AbortController();
  readonly #reconnect: (waitMs: number, signal: AbortSignal) => Promise<SshSandbox>;
  readonly #api: () => ExeDevApi;
  readonly #deleteVm: (() => Promise<void>) | undefined;
  #proxyPort: number | undefined;
  readonly #fetch: (port: number, path: string, init?: SandboxFetchInit) => Promise<Response>;
  readonly shares: ExeDevShares;
  readonly #forwards: PortForwards;

  constructor(init: {
    current: SshSandbox;
    vm: VmInfo;
    created: boolean;
    reconnect: (waitMs: number, signal: AbortSignal) => Promise<SshSandbox>;
    api: () => ExeDevApi;
    deleteVm: (() => Promise<void>) | undefined;
    signingKey: () => VmSigningKey;
  }) {
    this.#current = init.current;
    this.vm = init.vm;
    this.created = init.created;
    this.#reconnect = init.reconnect;
    this.#api = init.api;
    this.#deleteVm = init.deleteVm;
    this.#proxyPort = init.vm.proxyPort;
    this.#fetch = createVmFetch({
      vm: init.vm.name,
      url: (port) => this.url(port),
      signingKey: init.signingKey,
    });
    // Local forwards ask for the live connection per carried connection, so they keep working
    // across restart(); remote forwards belong to one connection (see exposeLocalPort).
    this.#forwards = new PortForwards({
      client: (signal) => this.#use((sandbox) => connectionLinkOf(sandbox).client(signal)),
      hold: () => connectionLinkOf(this.#current).hold(),
    });
    this.shares = createExeDevShares(init.api, init.vm.name, (port) => {
      this.#proxyPort = port;
    });
  }

  url(port?: number): string {
    return vmUrl({ ...this.vm, proxyPort: this.#proxyPort }, port);
  }

  fetch(port: number, path: string, init?: SandboxFetchInit): Promise<Response> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#fetch(port, path, init);
  }

  forwardPort(remotePort: number, options?: ForwardPortOptions): Promise<PortForward> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#forwards.forwardPort(remotePort, options);
  }

  /** Closed by `restart()` (the server forgets remote forwards with the connection): expose it again after one. */
  exposeLocalPort(localPort: number, options?: ExposeLocalPortOptions): Promise<ExposedPort> {
    return this.#use((sandbox) => sandbox.exposeLocalPort(localPort, options));
  }

  /** How commands and files travel: `"agent"` or `"channels"` (see `ConnectOptions.transport`). */
  get transport(): Transport {
    return this.#current.transport;
  }

  /** The remote `$HOME`. */
  get homeDir(): string {
    return this.#current.homeDir;
  }

  /** Runs `work` on the live connection, after a restart in progress has finished. */
  #use<T>(work: (sandbox: SshSandbox) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#restarting) {
      return this.#restarting.then(
        () => this.#use(work),
        () => this.#use(work),
      );
    }
    if (this.#dead) return Promise.reject(this.#dead);
    return work(this.#current);
  }

  exec(...args: Parameters<Sandbox["exec"]>): ReturnType<Sandbox["exec"]> {
    return this.#use((sandbox) => sandbox.exec(...args));
  }

  spawn(...args: Parameters<Sandbox["spawn"]>): ReturnType<Sandbox["spawn"]> {
    return this.#use((sandbox) => sandbox.spawn(...args));
  }

  listProcesses(...args: Parameters<Sandbox["listProcesses"]>): ReturnType<Sandbox["listProcesses"]> {
    return this.#use((sandbox) => sandbox.listProcesses(...args));
  }

  attachProcess(...args: Parameters<Sandbox["attachProcess"]>): ReturnType<Sandbox["attachProcess"]> {
    return this.#use((sandbox) => sandbox.attachProcess(...args));
  }

  waitForPort(...args: Parameters<Sandbox["waitForPort"]>): ReturnType<Sandbox["waitForPort"]> {
    return this.#use((sandbox) => sandbox.waitForPort(...args));
  }

  waitForOutput(...args: Parameters<Sandbox["waitForOutput"]>): ReturnType<Sandbox["waitForOutput"]> {
    return this.#use((sandbox) => sandbox.waitForOutput(...args));
  }

  openTerminal(...args: Parameters<Sandbox["openTerminal"]>): ReturnType<Sandbox["openTerminal"]> {
    return this.#use((sandbox) => sandbox.openTerminal(...args));
  }

  openShell(...args: Parameters<Sandbox["openShell"]>): ReturnType<Sandbox["openShell"]> {
    return this.#use((sandbox) => sandbox.openShell(...args));
  }

  readFile(...args: Parameters<Sandbox["readFile"]>): ReturnType<Sandbox["readFile"]> {
    return this.#use((sandbox) => sandbox.readFile(...args));
  }

  readFileBuffer(...args: Parameters<Sandbox["readFileBuffer"]>): ReturnType<Sandbox["readFileBuffer"]> {
    return this.#use((sandbox) => sandbox.readFileBuffer(...args));
  }

  writeFile(...args: Parameters<Sandbox["writeFile"]>): ReturnType<Sandbox["writeFile"]> {
    return this.#use((sandbox) => sandbox.writeFile(...args));
  }

  readFileStream(...args: Parameters<Sandbox["readFileStream"]>): ReturnType<Sandbox["readFileStream"]> {
    return this.#use((sandbox) => sandbox.readFileStream(...args));
  }

  writeFileStream(...args: Parameters<Sandbox["writeFileStream"]>): ReturnType<Sandbox["writeFileStream"]> {
    return this.#use((sandbox) => sandbox.writeFileStream(...args));
  }

  stat(...args: Parameters<Sandbox["stat"]>): ReturnType<Sandbox["stat"]> {
    return this.#use((sandbox) => sandbox.stat(...args));
  }

  readdir(...args: Parameters<Sandbox["readdir"]>): ReturnType<Sandbox["readdir"]> {
    return this.#use((sandbox) => sandbox.readdir(...args));
  }

  exists(...args: Parameters<Sandbox["exists"]>): ReturnType<Sandbox["exists"]> {
    return this.#use((sandbox) => sandbox.exists(...args));
  }

  mkdir(...args: Parameters<Sandbox["mkdir"]>): ReturnType<Sandbox["mkdir"]> {
    return this.#use((sandbox) => sandbox.mkdir(...args));
  }

  rm(...args: Parameters<Sandbox["rm"]>): ReturnType<Sandbox["rm"]> {
    return this.#use((sandbox) => sandbox.rm(...args));
  }

  rename(...args: Parameters<Sandbox["rename"]>): ReturnType<Sandbox["rename"]> {
    return this.#use((sandbox) => sandbox.rename(...args));
  }

  uploadFile(...args: Parameters<Sandbox["uploadFile"]>): ReturnType<Sandbox["uploadFile"]> {
    return this.#use((sandbox) => sandbox.uploadFile(...args));
  }

  downloadFile(...args: Parameters<Sandbox["downloadFile"]>): ReturnType<Sandbox["downloadFile"]> {
    return this.#use((sandbox) => sandbox.downloadFile(...args));
  }

  uploadDirectory(...args: Parameters<Sandbox["uploadDirectory"]>): ReturnType<Sandbox["uploadDirectory"]> {
    return this.#use((sandbox) => sandbox.uploadDirectory(...args));
  }

  downloadDirectory(
    ...args: Parameters<Sandbox["downloadDirectory"]>
  ): ReturnType<Sandbox["downloadDirectory"]> {
    return this.#use((sandbox) => sandbox.downloadDirectory(...args));
  }

  restart(options: RestartOptions = {}): Promise<void> {
    if (typeof options !== "object" || options === null) {
      return Promise.reject(new SandboxError("invalid_argument", "restart options must be an object."));
    }
    let waitMs: number;
    try {
      waitMs = checkDurationMs(options.timeoutMs, "timeoutMs") ?? RESTART_READY_MS;
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closed) return Promise.reject(closedError());
    this.#restarting ??= this.#restartOnce(waitMs).finally(() => {
      this.#restarting = undefined;
    });
    return this.#restarting;
  }

  async #restartOnce(waitMs: number): Promise<void> {
    // Until the API has restarted the VM the old connection is still the right one: a refused
    // restart (permissions, unknown VM) leaves the sandbox as it was.
    await this.#api().restartVm(this.vm.name);
    const old = this.#current;
    await old.close();
    try {
      const fresh = await this.#reconnect(waitMs, this.#closing.signal);
      if (this.#closed) {
        await fresh.close();
        throw closedError();
      }
      this.#current = fresh;
      this.#dead = undefined;
    } catch (error) {
      if (this.#closed) throw closedError();
      this.#dead = new SandboxError(
        "sandbox_died",
        `VM ${this.vm.name} did not answer over SSH within ${waitMs} ms of its restart; call restart() again or dispose() it.`,
        { cause: error, retryable: false, details: { vm: this.vm.name, timeoutMs: waitMs } },
      );
      throw this.#dead;
    }
  }

  /** Closes the connection (and one a restart is opening). Safe to call more than once. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    await this.#forwards.close();
    await this.#current.close();
  }

  dispose(): Promise<void> {
    this.#disposing ??= (async () => {
      await this.close();
      await this.#deleteVm?.();
    })().catch((error: unknown) => {
      // A failed delete (API down) may be retried by calling dispose() again; a done one never repeats.
      this.#disposing = undefined;
      throw error;
    });
    return this.#disposing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  async extendTtl(ms: number): Promise<Date> {
    const { tags, expiresAt } = await extendVmTtl(this.#api(), this.vm, ms);
    this.vm = { ...this.vm, tags };
    return expiresAt;
  }

  /** What `console.log` and `util.inspect` show: where the VM is, never how to log in to it. */
  [inspect.custom](): string {
    const { name, sshHost, sshPort, sshUser } = this.vm;
    const summary = { vm: { name, sshHost, sshPort, sshUser }, created: this.created, homeDir: this.homeDir };
    return `ExeDevSandbox ${inspect(summary)}`;
  }

  /** What `JSON.stringify` shows, for the same reason. */
  toJSON(): object {
    const { name, sshHost, sshPort, sshUser } = this.vm;
    return { vm: { name, sshHost, sshPort, sshUser }, created: this.created };
  }
}

/** The VM record for an attach target, asking the API only for a bare name (never building a host it sent). */
async function attachTo(
  target: AttachTarget,
  options: ExeDevSandboxOptions,
  api: () => ExeDevApi,
): Promise<VmInfo> {
  if (target.kind === "record") return target.vm;
  if (target.kind === "host") {
    return {
      name: target.name ?? target.host,
      sshHost: target.host,
      sshUser: target.user,
      sshPort: options.port ?? 22,
      tags: [],
      raw: options.vm ?? process.env.EXE_VM_HOST,
    };
  }
  const { name } = target;
  const hasApi = options.api !== undefined || Boolean(process.env.EXE_API_TOKEN || process.env.EXE_API_KEY);
  if (!hasApi) {
    // No API to ask: exe.dev's documented host for a VM name.
    return {
      name,
      sshHost: `${name}.exe.xyz`,
      sshPort: options.port ?? 22,
      tags: [],
      raw: options.vm ?? process.env.EXE_VM_HOST,
    };
  }
  const found = await api().getVm(name);
  if (!found)
    throw new SandboxError("not_found", `No VM named ${name} in this account.`, { details: { vm: name } });
  return found;
}

async function vmFor(
  plan: ExeDevPlan,
  options: ExeDevSandboxOptions,
  api: () => ExeDevApi,
  ttlMs: number | undefined,
): Promise<{ vm: VmInfo; created: boolean }> {
  switch (plan.mode) {
    case "create": {
      // Marked at creation, so even a process killed right after `new` leaves a VM the reaper finds.
      const tags = [...new Set([...(plan.create.tags ?? []), ...markTags(ttlMs)])];
      return { vm: await api().newVm({ ...plan.create, tags }), created: true };
    }
    case "clone": {
      const vm = await api().cloneVm(plan.source, plan.clone);
      try {
        return { vm: await markClone(api(), vm, ttlMs), created: true };
      } catch (error) {
        // An unmarked clone would escape the reaper: never keep one.
        await deleteOneVm(api(), vm.name).catch(() => {});
        throw error;
      }
    }
    case "attach":
      return { vm: await attachTo(plan.target, options, api), created: false };
    case "getOrCreate":
      return getOrCreateVm(api(), plan.create, plan.tag);
  }
}

/**
 * A sandbox on an exe.dev VM: attaches to one (`vm`), creates one (`create`) or clones one
 * (`cloneFrom`), waits until it really runs commands, and returns the {@link Sandbox} plus the
 * VM's record. `dispose()` deletes VMs it created (unless `cleanup: false`), never ones it
 * attached to; `restart()` restarts the VM and reconnects.
 *
 * `port` and `username`, when given, are used instead of the VM record's `sshPort` and
 * `sshUser` (e.g. to reach the VM through a tunnel); note that a `vm+<name>` user is how a
 * gateway routes to the VM, so override `username` only where the record has none or you dial
 * the VM some other way.
 *
 * Every option, SSH ones included, is checked before the first request: bad input is
 * `invalid_argument` and never creates a VM.
 *
 * @throws SandboxError `invalid_argument` for bad options (before any request).
 * @example
 * await using sandbox = await createExeDevSandbox({ create: { image: "exeuntu" } });
 * const { stdout } = await sandbox.exec("uname -a");
 */
export async function createExeDevSandbox(options: ExeDevSandboxOptions = {}): Promise<ExeDevSandbox> {
  const plan = planExeDevSandbox(options, process.env);
  const hasSetupScript =
    (plan.mode === "create" || plan.mode === "getOrCreate") && plan.create.setupScript !== undefined;
  const setupWaitMs = planSetupWait(options.waitForSetup, hasSetupScript);
  const ttlMs = checkTtlMs(options.ttlMs);
  let client: ExeDevApi | undefined;
  const api = (): ExeDevApi => {
    client ??= options.api ?? createExeDevApi();
    return client;
  };
  const { vm, created } = await vmFor(plan, options, api, ttlMs);
  // A VM another caller of getOrCreate is creating may still be starting: the same window.
  const creating = created || plan.mode === "getOrCreate";
  const deleteVm =
    created && plan.mode !== "attach" && plan.cleanup
      ? // Already gone (deleted elsewhere, or by an earlier dispose whose answer was lost) is fine.
        () => deleteOneVm(api(), vm.name)
      : undefined;
  try {
    const resolved = resolveConnectOptions({
      ...options,
      host: vm.sshHost,
      // Given options win over the record: a test rig, a tunnel or a port forward knows better.
      port: options.port ?? vm.sshPort,
      username: options.username ?? vm.sshUser,
      connectRetryMs: creating ? (options.connectRetryMs ?? NEW_VM_READY_MS) : options.connectRetryMs,
    });
    // A new VM gets the same window for answering the probe as for accepting connections.
    const current = await connectAndProbe(resolved, creating ? resolved.connectRetryMs : 0);
    if (setupWaitMs !== undefined) {
      await waitForSetupScript(current, vm.name, setupWaitMs).catch(async (error: unknown) => {
        await current.close();
        throw error;
      });
    }
    return new ExeDevSshSandbox({
      current,
      vm,
      created,
      // After a restart the VM is starting again: retry for the restart's whole budget.
      reconnect: (waitMs, signal) => connectAndProbe({ ...resolved, connectRetryMs: waitMs }, waitMs, signal),
      api,
      deleteVm,
      signingKey: () => resolveSigningKey(options),
    });
  } catch (error) {
    // Never leave a VM behind that the caller cannot reach to delete.
    if (deleteVm) await deleteVm().catch(() => {});
    throw error;
  }
}
