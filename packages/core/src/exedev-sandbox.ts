import { randomBytes } from "node:crypto";
import { createExeDevApi, type ExeDevApi } from "./api/exe-dev-api.js";
import type { VmInfo } from "./api/vm-info.js";
import { validateVmName } from "./api/vm-name.js";
import type { CloneVmOptions, NewVmOptions } from "./api/vm-options.js";
import { invalidArgument, isSandboxError, SandboxError } from "./errors.js";
import type { Sandbox } from "./sandbox.js";
import {
  type ConnectOptions,
  type ResolvedConnectOptions,
  resolveConnectOptions,
} from "./ssh/connect-options.js";
import { SshSandbox } from "./ssh/ssh-sandbox.js";

/** How long a new or cloned VM is given to accept SSH and answer the readiness probe. */
const NEW_VM_READY_MS = 90_000;

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
  /** Options for the clone (`cpu`, `memory`, `disk`, `copyTags`, `name`). */
  clone?: CloneVmOptions;
  /** Delete the VM on `dispose()`. Only ever applies to a VM this call created or cloned. @default true for created or cloned VMs */
  cleanup?: boolean;
  /** The API client for create, clone, look-up and delete. @default createExeDevApi() (reads $EXE_API_TOKEN, $EXE_API_URL) */
  api?: ExeDevApi;
}

/** A {@link Sandbox} on an exe.dev VM, with the VM's record and a lifecycle. */
export interface ExeDevSandbox extends Sandbox {
  /** The VM's record as the API returned it (or as built from `vm`). */
  readonly vm: VmInfo;
  /** Whether this sandbox created (or cloned) the VM. */
  readonly created: boolean;
  /** Closes the connection and, with `cleanup`, deletes a VM this sandbox created. Safe to call twice. */
  dispose(): Promise<void>;
  /** Same as {@link ExeDevSandbox.dispose}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

class ExeDevSshSandbox extends SshSandbox implements ExeDevSandbox {
  private disposing: Promise<void> | undefined;

  constructor(
    options: ResolvedConnectOptions,
    readonly vm: VmInfo,
    readonly created: boolean,
    private readonly deleteVm: (() => Promise<void>) | undefined,
  ) {
    super(options);
  }

  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      await this.close();
      await this.deleteVm?.();
    })();
    return this.disposing;
  }

  override [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** Where to connect for an attach target that is not a {@link VmInfo}. */
function parseTarget(target: string): { name?: string; host?: string; user?: string } {
  const trimmed = target.trim();
  if (trimmed === "" || /[\s\0]/.test(trimmed))
    throw invalidArgument("vm must be a VM name, host or ssh_dest without spaces.");
  const at = trimmed.lastIndexOf("@");
  if (at >= 0) {
    const user = trimmed.slice(0, at);
    const host = trimmed.slice(at + 1);
    if (!user || !host) throw invalidArgument(`vm "${trimmed}" is not a valid ssh_dest (user@host).`);
    return { user, host, name: user.startsWith("vm+") ? user.slice(3) : undefined };
  }
  if (trimmed.includes(".")) {
    return {
      host: trimmed,
      name: trimmed.endsWith(".exe.xyz") ? trimmed.slice(0, -".exe.xyz".length) : undefined,
    };
  }
  return { name: validateVmName(trimmed) };
}

function checkOptions(options: ExeDevSandboxOptions): void {
  if (typeof options !== "object" || options === null)
    throw invalidArgument("createExeDevSandbox needs an options object.");
  const modes = [options.vm !== undefined, Boolean(options.create), options.cloneFrom !== undefined].filter(
    Boolean,
  );
  if (modes.length > 1) throw invalidArgument("Pass only one of vm, create and cloneFrom.");
  if (options.cloneFrom !== undefined) validateVmName(options.cloneFrom);
  if (options.cleanup !== undefined && typeof options.cleanup !== "boolean")
    throw invalidArgument("cleanup must be a boolean.");
}

/** Resolves the VM to attach to, asking the API only for a bare name (never building a host it sent). */
async function attachTarget(options: ExeDevSandboxOptions, api: () => ExeDevApi): Promise<VmInfo> {
  const vm = options.vm ?? process.env.EXE_VM_HOST;
  if (vm === undefined || vm === "") {
    throw invalidArgument(
      "Pass vm (a VM name, host or VmInfo), create: true, or cloneFrom; or set EXE_VM_HOST.",
    );
  }
  if (typeof vm === "object") {
    if (typeof vm.sshHost !== "string" || !vm.sshHost) throw invalidArgument("vm must have an sshHost.");
    return vm;
  }
  const target = parseTarget(vm);
  if (target.host) {
    return {
      name: target.name ?? target.host,
      sshHost: target.host,
      sshUser: target.user,
      sshPort: options.port ?? 22,
      tags: [],
      raw: vm,
    };
  }
  const name = target.name as string;
  const hasApi = options.api !== undefined || Boolean(process.env.EXE_API_TOKEN || process.env.EXE_API_KEY);
  if (!hasApi) {
    // No API to ask: exe.dev's documented host for a VM name.
    return { name, sshHost: `${name}.exe.xyz`, sshPort: options.port ?? 22, tags: [], raw: vm };
  }
  const found = await api().getVm(name);
  if (!found)
    throw new SandboxError("not_found", `No VM named ${name} in this account.`, { details: { vm: name } });
  return found;
}

async function probe(sandbox: SshSandbox): Promise<void> {
  // The lobby can answer a connection meant for a VM; only the VM echoes our nonce back.
  const nonce = `exedev-ready-${randomBytes(8).toString("hex")}`;
  const result = await sandbox.exec(`echo ${nonce}`, { timeoutMs: 15_000 });
  if (result.stdout.trim() !== nonce) {
    throw new SandboxError(
      "connection_failed",
      "The SSH server answered, but not as the VM (the readiness probe did not echo back).",
      {
        retryable: true,
      },
    );
  }
}

async function connectAndProbe(
  options: ResolvedConnectOptions,
  vm: VmInfo,
  created: boolean,
  deleteVm?: () => Promise<void>,
) {
  // A new VM gets the same window for answering the probe as for accepting connections.
  const deadline = Date.now() + (created ? options.connectRetryMs : 0);
  for (;;) {
    const sandbox = new ExeDevSshSandbox(options, vm, created, deleteVm);
    try {
      await sandbox.open();
      await probe(sandbox);
      return sandbox;
    } catch (error) {
      await sandbox.close();
      const retry = created && isSandboxError(error) && error.retryable && Date.now() < deadline;
      if (!retry) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/**
 * A sandbox on an exe.dev VM: attaches to one (`vm`), creates one (`create`) or clones one
 * (`cloneFrom`), waits until it really runs commands, and returns the {@link Sandbox} plus the
 * VM's record. `dispose()` deletes VMs it created (unless `cleanup: false`), never ones it attached to.
 *
 * @example
 * await using sandbox = await createExeDevSandbox({ create: { image: "exeuntu" } });
 * const { stdout } = await sandbox.exec("uname -a");
 */
export async function createExeDevSandbox(options: ExeDevSandboxOptions = {}): Promise<ExeDevSandbox> {
  checkOptions(options);
  let client: ExeDevApi | undefined;
  const api = (): ExeDevApi => {
    client ??= options.api ?? createExeDevApi();
    return client;
  };
  const createOptions = options.create === true ? {} : options.create || undefined;
  const creating = createOptions !== undefined || options.cloneFrom !== undefined;
  let vm: VmInfo;
  if (createOptions) {
    vm = await api().newVm(createOptions);
  } else if (options.cloneFrom !== undefined) {
    vm = await api().cloneVm(options.cloneFrom, options.clone);
  } else {
    vm = await attachTarget(options, api);
  }
  const deleteVm =
    creating && (options.cleanup ?? true)
      ? async () => {
          const result = await api().removeVm(vm.name);
          if (!result.deleted.includes(vm.name)) {
            throw new SandboxError(
              "api_error",
              `Could not delete VM ${vm.name}: ${result.errors.join("; ") || "unknown reason"}.`,
              {
                details: { vm: vm.name },
              },
            );
          }
        }
      : undefined;
  try {
    const resolved = resolveConnectOptions({
      ...options,
      host: vm.sshHost,
      port: vm.sshPort,
      username: vm.sshUser ?? options.username,
      connectRetryMs: creating ? (options.connectRetryMs ?? NEW_VM_READY_MS) : options.connectRetryMs,
    });
    return await connectAndProbe(resolved, vm, creating, deleteVm);
  } catch (error) {
    // Never leave a VM behind that the caller cannot reach to delete.
    if (deleteVm) await deleteVm().catch(() => {});
    throw error;
  }
}
