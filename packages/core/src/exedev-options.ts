import type { ExeDevApi } from "./api/exe-dev-api.js";
import type { VmInfo } from "./api/vm-info.js";
import { validateVmName } from "./api/vm-name.js";
import {
  buildCloneVmRequest,
  buildNewVmRequest,
  type CloneVmOptions,
  type NewVmOptions,
} from "./api/vm-options.js";
import { invalidArgument } from "./errors.js";
import { type AttachTarget, isHostName, parseAttachTarget } from "./exedev-target.js";
import { resolveAuth } from "./ssh/auth.js";
import { type ConnectOptions, resolveConnectOptions } from "./ssh/connect-options.js";

/** The options of `createExeDevSandbox` this module reads; see `ExeDevSandboxOptions`. */
export interface ExeDevOptionsInput extends Partial<ConnectOptions> {
  vm?: string | VmInfo;
  create?: NewVmOptions | boolean;
  cloneFrom?: string;
  clone?: CloneVmOptions;
  cleanup?: boolean;
  api?: ExeDevApi;
}

/** What `createExeDevSandbox` will do, decided and checked before its first request. */
export type ExeDevPlan =
  | { mode: "create"; create: NewVmOptions; cleanup: boolean }
  | { mode: "clone"; source: string; clone: CloneVmOptions | undefined; cleanup: boolean }
  | { mode: "attach"; target: AttachTarget };

// resolveConnectOptions needs a host; the real one comes from the VM record later.
const PLACEHOLDER_HOST = "vm.invalid";

const API_METHODS = {
  create: ["newVm", "removeVm"],
  clone: ["cloneVm", "removeVm"],
  attach: ["getVm"],
} as const;

function checkApi(api: unknown, mode: ExeDevPlan["mode"]): void {
  if (api === undefined) return;
  if (typeof api !== "object" || api === null) {
    throw invalidArgument("api must be a client made by createExeDevApi().");
  }
  for (const method of API_METHODS[mode]) {
    if (typeof (api as Record<string, unknown>)[method] !== "function") {
      throw invalidArgument(`api must be a client made by createExeDevApi() (it has no ${method}).`);
    }
  }
}

/**
 * Checks the SSH half of the options exactly as `connectSandbox` would (host-key policy, keys,
 * passphrase, port, username, channel limit, every timeout), so that a VM is never created for
 * options that cannot connect to it.
 */
function checkSshOptions(options: ExeDevOptionsInput): void {
  if (options.host !== undefined && (typeof options.host !== "string" || !isHostName(options.host))) {
    throw invalidArgument("host must be a host name or IP address; it is taken from the VM record anyway.");
  }
  const resolved = resolveConnectOptions({ ...options, host: options.host ?? PLACEHOLDER_HOST });
  resolveAuth(resolved);
}

function checkCreate(create: unknown): NewVmOptions | undefined {
  if (create === undefined || create === false) return undefined;
  if (create === true) return {};
  if (typeof create !== "object" || create === null || Array.isArray(create)) {
    throw invalidArgument("create must be true or an options object for `new`.");
  }
  // The same checks newVm makes, now, instead of after the other options were accepted.
  buildNewVmRequest(create as NewVmOptions);
  return create as NewVmOptions;
}

/**
 * Validates every option of `createExeDevSandbox` (mode, VM target, create and clone options,
 * the API client, all SSH options) and decides what to do. Does no I/O beyond reading local
 * key files, as `connectSandbox` does; throws `invalid_argument` naming the option.
 */
export function planExeDevSandbox(options: ExeDevOptionsInput, env: NodeJS.ProcessEnv): ExeDevPlan {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalidArgument("createExeDevSandbox needs an options object.");
  }
  const create = checkCreate(options.create);
  const modes = [options.vm !== undefined, create !== undefined, options.cloneFrom !== undefined];
  if (modes.filter(Boolean).length > 1) throw invalidArgument("Pass only one of vm, create and cloneFrom.");
  if (options.cleanup !== undefined && typeof options.cleanup !== "boolean") {
    throw invalidArgument("cleanup must be a boolean.");
  }
  if (options.clone !== undefined) {
    if (options.cloneFrom === undefined) throw invalidArgument("clone options need cloneFrom.");
    buildCloneVmRequest(options.clone);
  }
  const cleanup = options.cleanup ?? true;
  let plan: ExeDevPlan;
  if (create !== undefined) {
    plan = { mode: "create", create, cleanup };
  } else if (options.cloneFrom !== undefined) {
    plan = { mode: "clone", source: validateVmName(options.cloneFrom), clone: options.clone, cleanup };
  } else {
    const vm = options.vm ?? env.EXE_VM_HOST;
    if (vm === undefined || vm === "") {
      throw invalidArgument(
        "Pass vm (a VM name, host or VmInfo), create: true, or cloneFrom; or set EXE_VM_HOST.",
      );
    }
    plan = { mode: "attach", target: parseAttachTarget(vm, options.vm === undefined ? "EXE_VM_HOST" : "vm") };
  }
  checkApi(options.api, plan.mode);
  checkSshOptions(options);
  return plan;
}
