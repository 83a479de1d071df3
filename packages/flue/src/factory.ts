import {
  createExeDevSandbox,
  type ExeDevSandboxOptions,
  type Sandbox,
  SandboxError,
  type VmInfo,
} from "@exedev-sandbox/core";
import { type Sandbox as FlueSandbox, type SandboxFactory, sandboxFromDriver } from "@flue/runtime";
import { createExeDevDriver } from "./driver.js";

/** Options for {@link exedev}: the core SSH options plus `create`/`cloneFrom`/`cleanup`/`api`. */
export type ExeDevFactoryOptions = Omit<ExeDevSandboxOptions, "vm">;

/** A Flue `SandboxFactory` that also owns the VMs and connections it made. */
export interface ExeDevSandboxFactory extends SandboxFactory {
  /**
   * Closes every connection the factory opened and deletes every VM it created (unless
   * `cleanup: false`). Attached VMs are never deleted. Flue has no teardown hook, so call this
   * when your application is done with the agents. Safe to call twice.
   */
  dispose(): Promise<void>;
}

interface Entry {
  core: Sandbox;
  flue: FlueSandbox;
  /** Disposes what the factory owns: a sandbox it created (and maybe its VM). */
  release: () => Promise<void>;
}

function isCoreSandbox(value: unknown): value is Sandbox {
  return typeof value === "object" && value !== null && typeof (value as Sandbox).exec === "function";
}

/**
 * A Flue sandbox factory for an exe.dev VM: pass it to `useSandbox`.
 *
 * - `exedev("my-vm")`, `exedev("my-vm.exe.xyz")`, `exedev("vm+my-vm@exe.dev")` or a `VmInfo`:
 *   attach to that VM (never deleted).
 * - `exedev(undefined, { create: true })` or `{ cloneFrom: "base-vm" }`: a new VM per agent
 *   instance id, deleted by `factory.dispose()` (and, best effort, when the process is about to exit).
 * - `exedev(coreSandbox)`: use a core `Sandbox` you already hold (you keep ownership).
 * - `exedev()`: attach to `$EXE_VM_HOST`.
 *
 * The sandbox of an agent instance id is reused when Flue asks for it again.
 *
 * @example
 * // in a 'use agent' module
 * useSandbox(exedev("my-vm"), { cwd: "/home/exedev/project" });
 */
export function exedev(
  vm?: string | VmInfo | Sandbox,
  options: ExeDevFactoryOptions = {},
): ExeDevSandboxFactory {
  if (vm !== undefined && typeof vm !== "string" && (typeof vm !== "object" || vm === null)) {
    throw new SandboxError(
      "invalid_argument",
      "exedev(vm) takes a VM name, host, ssh_dest, VmInfo or core sandbox.",
    );
  }
  const entries = new Map<string, Promise<Entry>>();
  let disposed = false;

  const open = async (): Promise<Entry> => {
    if (isCoreSandbox(vm)) {
      // The caller's sandbox: wrap it, never close or delete it.
      return {
        core: vm,
        flue: sandboxFromDriver(createExeDevDriver(vm), vm.homeDir),
        release: async () => {},
      };
    }
    const sandbox = await createExeDevSandbox({ ...options, vm });
    return {
      core: sandbox,
      flue: sandboxFromDriver(createExeDevDriver(sandbox), sandbox.homeDir),
      release: () => sandbox.dispose(),
    };
  };

  const dispose = async (): Promise<void> => {
    disposed = true;
    process.removeListener("beforeExit", onBeforeExit);
    const all = [...entries.values()];
    entries.clear();
    const results = await Promise.allSettled(all.map(async (entry) => (await entry).release()));
    const failure = results.find((result) => result.status === "rejected");
    if (failure) throw (failure as PromiseRejectedResult).reason;
  };
  // Flue has no teardown hook; without this, VMs created for a script that simply ends would be
  // left running. `beforeExit` only fires once nothing else keeps the process alive.
  const onBeforeExit = (): void => {
    if (entries.size > 0) void dispose().catch(() => {});
  };
  const creates = Boolean(options.create) || options.cloneFrom !== undefined;
  if (creates && options.cleanup !== false) process.once("beforeExit", onBeforeExit);

  return {
    async createSandbox({ id }) {
      if (disposed) throw new SandboxError("closed", "This exedev() factory was disposed; create a new one.");
      let entry = entries.get(id);
      if (!entry) {
        entry = open();
        entries.set(id, entry);
        entry.catch(() => entries.delete(id));
      }
      return (await entry).flue;
    },
    dispose,
  };
}
