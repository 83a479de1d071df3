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
import { vmNameForTag } from "./fleet/get-or-create.js";
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
  getOrCreate?: boolean | { tag: string };
  name?: string;
  ttlMs?: number | null;
}

/** What `createExeDevSandbox` will do, decided and checked before its first request. */
export type ExeDevPlan =
  | { mode: "create"; create: NewVmOptions; cleanup: boolean }
  | { mode: "clone"; source: string; clone: CloneVmOptions | undefined; cleanup: boolean }
  | { mode: "attach"; target: AttachTarget }
  | {
      mode: "getOrCreate";
      create: NewVmOptions & { name: string };
      tag: string | undefined;
      cleanup: boolean;
    };

// resolveConnectOptions needs a host; the real one comes from the VM record later.
const PLACEHOLDER_HOST = "vm.invalid";

const API_METHODS = {
  create: ["newVm", "removeVm"],
  clone: ["cloneVm", "removeVm"],
  attach: ["getVm"],
  getOrCreate: ["getVm", "listVms", "newVm", "removeVm"],
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
  if (options.getOrCreate !== undefined && options.getOrCreate !== false) {
    return planGetOrCreate(options, create);
  }
  if (options.name !== undefined) {
    throw invalidArgument("name goes with getOrCreate; to create a VM with a name pass create: { name }.");
  }
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

/** The get-or-create plan: a VM name everyone racing agrees on, the tag, and no cleanup by default. */
function planGetOrCreate(options: ExeDevOptionsInput, create: NewVmOptions | undefined): ExeDevPlan {
  const setting = options.getOrCreate;
  if (
    setting !== true &&
    (typeof setting !== "object" || setting === null || typeof setting.tag !== "string")
  ) {
    throw invalidArgument(
      "getOrCreate must be true (with a name) or { tag } (a tag of the VM to find or make).",
    );
  }
  if (options.vm !== undefined || options.cloneFrom !== undefined) {
    throw invalidArgument(
      "getOrCreate finds or creates a VM by name or tag; it does not go with vm or cloneFrom.",
    );
  }
  if (options.cleanup !== undefined && typeof options.cleanup !== "boolean") {
    throw invalidArgument("cleanup must be a boolean.");
  }
  const tag = setting === true ? undefined : setting.tag;
  if (tag !== undefined && !/^[a-z][a-z0-9_-]*$/.test(tag)) {
    throw invalidArgument(`getOrCreate's tag must match exe.dev's tag syntax ^[a-z][a-z0-9_-]*$.`);
  }
  if (options.name !== undefined && create?.name !== undefined && options.name !== create.name) {
    throw invalidArgument("name and create.name differ; pass one of them.");
  }
  const given = options.name ?? create?.name;
  if (given === undefined && tag === undefined) {
    throw invalidArgument(
      "getOrCreate: true needs the VM's name: { name, getOrCreate: true }, or find it by { getOrCreate: { tag } }.",
    );
  }
  const name = given === undefined ? vmNameForTag(tag as string) : validateVmName(given);
  const base = create ?? {};
  const tags = tag === undefined ? base.tags : [...new Set([...(base.tags ?? []), tag])];
  const full = { ...base, name, ...(tags === undefined ? {} : { tags }) };
  buildNewVmRequest(full);
  checkApi(options.api, "getOrCreate");
  checkSshOptions(options);
  // Others may be attached to the VM: it outlives this sandbox unless asked otherwise.
  return { mode: "getOrCreate", create: full, tag, cleanup: options.cleanup ?? false };
}
