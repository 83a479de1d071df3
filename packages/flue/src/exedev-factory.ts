import {
  CREATED_VM_TAG,
  createExeDevSandbox,
  type ExeDevSandboxOptions,
  type NewVmOptions,
  type Sandbox,
  SandboxError,
  type VmInfo,
} from "@exedev-sandbox/core";
import { type Sandbox as FlueSandbox, type SandboxFactory, sandboxFromDriver } from "@flue/runtime";
import { configKey } from "./config-key.js";
import { createExeDevDriver } from "./exedev-driver.js";
import { disposedError } from "./flue-errors.js";
import { disposeKey, poolFor } from "./pool-registry.js";
import { exedevTools, withCore } from "./process-tools.js";
import { SandboxPool } from "./sandbox-pool.js";

/**
 * Options for {@link exedev}: every option of core's `createExeDevSandbox` except `vm`.
 *
 * - SSH: `privateKey`, `privateKeyPath` (@default `$EXE_SSH_KEY`, then `~/.ssh/id_*`), `agent`
 *   (@default `$SSH_AUTH_SOCK`), `passphrase`, `hostKey` (@default `"accept-new"`),
 *   `knownHostsPath` (@default `~/.ssh/known_hosts`), `username` and `port` (@default from the
 *   VM's record), `keepaliveIntervalMs`, `readyTimeoutMs`, `maxChannels`, `connectRetryMs`,
 *   `sftpTimeoutMs`.
 * - Lifecycle: `create` (`true` or options for `new`: a new VM per agent instance id),
 *   `cloneFrom` and `clone` (a clone of that VM per id), `cleanup` (@default `true` for VMs the
 *   factory creates: `dispose()` deletes them; never applies to attached VMs), `api` (@default
 *   `createExeDevApi()`, which reads `$EXE_API_TOKEN`/`$EXE_API_KEY` and `$EXE_API_URL`).
 */
export type ExeDevFactoryOptions = Omit<ExeDevSandboxOptions, "vm">;

/** A Flue `SandboxFactory` that can also release what it opened: Flue itself never does. */
export interface ExeDevSandboxFactory extends SandboxFactory {
  /**
   * Closes the connections this factory's configuration opened and deletes the VMs it created
   * (unless `cleanup: false`). Attached VMs and core sandboxes you passed in are never deleted or
   * closed. Factories built with equal arguments share their sandboxes, so this releases those of
   * all of them. Afterwards this factory refuses new sandboxes. Safe to call twice.
   */
  dispose(): Promise<void>;
}

/**
 * A Flue sandbox factory for exe.dev VMs: pass it to `useSandbox`.
 *
 * - `exedev("my-vm")`, `exedev("my-vm.exe.xyz")`, `exedev("vm+my-vm@exe.dev")` or
 *   `exedev(vmInfo)`: attach to that VM. Every agent instance shares one SSH connection; the VM is
 *   never deleted.
 * - `exedev()`: attach to `$EXE_VM_HOST`.
 * - `exedev(undefined, { create: true })` or `exedev(undefined, { cloneFrom: "base-vm" })`: a new
 *   VM per agent instance id, tagged {@link CREATED_VM_TAG}, deleted by
 *   {@link ExeDevSandboxFactory.dispose} (or {@link disposeExeDevSandboxes}) and at exit:
 *   `process.exit()` (how `flue run` ends) waits for the deletion, as do `SIGINT`/`SIGTERM`/
 *   `SIGHUP` when nothing else handles them, and `beforeExit`.
 * - `exedev(coreSandbox)`: a core `Sandbox` you hold (e.g. from `createExeDevSandbox`); you keep
 *   ownership and close it yourself.
 *
 * Flue builds a fresh factory on every render and may ask for the same id more than once, so
 * sandboxes live in the process, not in the factory object: factories with equal arguments (the
 * `api` client compared by identity) get the same sandbox for the same id. A sandbox whose VM or
 * connection turned out to be gone is replaced by a new connection on the next request.
 * Nothing connects until Flue calls `createSandbox`.
 *
 * @param vm The VM to attach to, or a core sandbox; leave it out to create/clone VMs or to use
 *   `$EXE_VM_HOST`. @default `$EXE_VM_HOST` (when neither `create` nor `cloneFrom` is set)
 * @param options SSH and lifecycle options, see {@link ExeDevFactoryOptions}. @default `{}`
 * @example
 * // in a 'use agent' module
 * useSandbox(exedev("my-vm"), { cwd: "/home/exedev/project" });
 */
export function exedev(
  vm?: string | VmInfo | Sandbox,
  options: ExeDevFactoryOptions = {},
): ExeDevSandboxFactory {
  checkArguments(vm, options);
  if (isCoreSandbox(vm)) return heldSandboxFactory(vm);
  const creates = Boolean(options.create) || options.cloneFrom !== undefined;
  // Read once, so that the key and the connection agree on which VM this is.
  const target = creates ? undefined : (vm ?? process.env.EXE_VM_HOST);
  const key = configKey(target, options);
  const open = { ...options, ...(options.create ? { create: withReaperTag(options.create) } : {}) };
  const makePool = () => new SandboxPool(() => createExeDevSandbox({ ...open, vm: target }), creates);
  let disposed = false;
  return {
    tools: exedevTools,
    async createSandbox({ id }) {
      if (disposed) throw disposedError();
      return poolFor(key, makePool, creates && options.cleanup !== false).sandbox(id);
    },
    async dispose() {
      disposed = true;
      await disposeKey(key);
    },
  };
}

/**
 * The tag every VM this adapter creates carries (core's, which `reapVms` looks for), so that
 * those that outlived their process (SIGKILL, a crash, a timed-out delete) are found.
 */
export { CREATED_VM_TAG };

function withReaperTag(create: true | NewVmOptions): NewVmOptions {
  const given: NewVmOptions = create === true ? {} : create;
  // Bad input is left for core to refuse with its own message.
  if (typeof given !== "object" || (given.tags !== undefined && !Array.isArray(given.tags))) return given;
  return { ...given, tags: [...new Set([...(given.tags ?? []), CREATED_VM_TAG])] };
}

function checkArguments(vm: unknown, options: unknown): void {
  if (vm !== undefined && typeof vm !== "string" && (typeof vm !== "object" || vm === null)) {
    throw new SandboxError(
      "invalid_argument",
      "exedev(vm) takes a VM name, host, ssh_dest, VmInfo or core sandbox.",
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new SandboxError("invalid_argument", "exedev(vm, options) needs an options object.");
  }
  const { create, cloneFrom } = options as ExeDevFactoryOptions;
  if (vm !== undefined && (Boolean(create) || cloneFrom !== undefined)) {
    throw new SandboxError(
      "invalid_argument",
      "Pass either a vm to attach to or create/cloneFrom, not both: exedev(undefined, { create: true }).",
    );
  }
}

function isCoreSandbox(value: unknown): value is Sandbox {
  return typeof value === "object" && value !== null && typeof (value as Sandbox).exec === "function";
}

/** A factory over a sandbox the caller owns: one Flue wrapper for every id, never closed here. */
function heldSandboxFactory(sandbox: Sandbox): ExeDevSandboxFactory {
  let flue: FlueSandbox | undefined;
  let disposed = false;
  return {
    tools: exedevTools,
    async createSandbox() {
      if (disposed) throw disposedError();
      flue ??= withCore(sandboxFromDriver(createExeDevDriver(sandbox), sandbox.homeDir), sandbox);
      return flue;
    },
    async dispose() {
      disposed = true;
    },
  };
}
