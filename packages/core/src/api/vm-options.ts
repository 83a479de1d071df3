import { invalidArgument, isSandboxError } from "../errors.js";
import type { LobbyFlags } from "./command-line.js";
import { MAX_SETUP_SCRIPT_BYTES } from "./command-line.js";
import { generateVmName, validateVmName } from "./vm-name.js";

/** Options for `new`: every field is optional and maps to one lobby flag. */
export interface NewVmOptions {
  /**
   * VM name (see {@link validateVmName}). Always sent: when omitted a random one is generated,
   * so that a create whose answer was lost can be checked with `ls` instead of repeated.
   * @default generateVmName()
   */
  name?: string;
  /** Container image (any OCI reference). Omit it to get exeuntu, exe.dev's default. @default "exeuntu" */
  image?: string;
  /** Container command: `auto`, `none` or a custom command. @default "auto" */
  command?: string;
  /** Virtual CPUs, a whole number of at least 1. @default 2 */
  cpu?: number;
  /** Memory: a size such as `"8GB"` or `"16GiB"` (all units are 1024-based), or a number of GiB. @default 8 GiB */
  memory?: string | number;
  /** Disk: a size such as `"25GB"`, or a number of GiB. @default the plan's size (25 GiB) */
  disk?: string | number;
  /** Environment written to the VM's init environment and `/etc/profile.d`. Values never appear in errors. */
  env?: Record<string, string>;
  /** Tags, each matching `^[a-z][a-z0-9_-]*$`. */
  tags?: string[];
  /** Integrations to attach; each must exist on the account. */
  integrations?: string[];
  /** A comment of at most 200 bytes, without control characters. */
  comment?: string;
  /** A script run once at first boot (exeuntu only); at most 10 KiB. Newlines are allowed. Never appears in errors. */
  setupScript?: string;
  /** A single-line prompt for Shelley, exe.dev's agent (exeuntu only). Never appears in errors. */
  prompt?: string;
  /** Suppress the "VM created" email that HTTPS creates may otherwise send. @default true */
  noEmail?: boolean;
}

/** Options for `cp`: clone an existing VM (disk, image, sizes, tags, comment). */
export interface CloneVmOptions {
  /** Name of the copy; generated when omitted, for the same reason as {@link NewVmOptions.name}. @default generateVmName() */
  name?: string;
  /** Virtual CPUs of the copy. @default the source's */
  cpu?: number;
  /** Memory of the copy, as for {@link NewVmOptions.memory}. @default the source's */
  memory?: string | number;
  /** Disk of the copy, as for {@link NewVmOptions.disk}. @default the source's */
  disk?: string | number;
  /** Copy the source's tags. @default true */
  copyTags?: boolean;
}

/** A validated create or clone request. */
export interface VmRequest {
  /** The name sent, which is also the idempotency key. */
  name: string;
  flags: LobbyFlags;
  /** Values that must never appear in errors. */
  secrets: string[];
}

const SIZE = /^\d+(\.\d+)?(K|KB|KiB|M|MB|MiB|G|GB|GiB|T|TB|TiB)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TAG = /^[a-z][a-z0-9_-]*$/;
const MAX_COMMENT_BYTES = 200;
const CONTROL = /[\u0000-\u001f\u007f]/;
const LINE_BREAK = /[\r\n]/;

function checkObject(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidArgument(`${what} must be an object.`);
  }
  return value as Record<string, unknown>;
}

function checkCpu(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw invalidArgument("cpu must be a whole number of at least 1.", { cpu: value });
  }
  return value;
}

function checkSize(value: unknown, what: "memory" | "disk"): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 1) {
      throw invalidArgument(`${what} must be a whole number of GiB (at least 1) or a size such as "16GiB".`, {
        [what]: value,
      });
    }
    return `${value}GiB`;
  }
  if (typeof value !== "string" || !SIZE.test(value) || Number.parseFloat(value) <= 0) {
    throw invalidArgument(`${what} must be a size such as "8GB", "16GiB" or "512MiB", or a number of GiB.`, {
      [what]: typeof value === "string" ? value.slice(0, 32) : typeof value,
    });
  }
  return value;
}

function checkSingleLine(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "")
    throw invalidArgument(`${what} must be a non-empty string.`);
  if (value.includes("\0") || LINE_BREAK.test(value)) {
    throw invalidArgument(`${what} must be a single line without NUL bytes.`);
  }
  return value;
}

function checkToken(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "" || /[\s,]/.test(value) || CONTROL.test(value)) {
    throw invalidArgument(`${what} must be a non-empty string without spaces, commas or control characters.`);
  }
  return value;
}

function checkList(value: unknown, what: string, check: (item: string) => boolean, rule: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidArgument(`${what} must be an array of strings.`);
  for (const item of value) {
    if (typeof item !== "string" || !check(item)) {
      throw invalidArgument(`${what} entry ${JSON.stringify(String(item).slice(0, 64))} ${rule}.`);
    }
  }
  return value as string[];
}

function checkEnvEntry(name: string, item: unknown): string {
  if (!ENV_NAME.test(name)) {
    throw invalidArgument(`env name ${JSON.stringify(name.slice(0, 64))} is not a valid shell identifier.`);
  }
  if (typeof item !== "string") throw invalidArgument(`env value for ${name} must be a string.`);
  if (item.includes("\0") || LINE_BREAK.test(item)) {
    throw invalidArgument(`env value for ${name} must be a single line without NUL bytes.`);
  }
  return `${name}=${item}`;
}

function checkEnvironment(value: unknown): string[] {
  return Object.entries(checkObject(value, "env")).map(([name, item]) => checkEnvEntry(name, item));
}

function checkComment(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw invalidArgument("comment must be a string.");
  if (CONTROL.test(value))
    throw invalidArgument("comment must not contain newlines, tabs or other control characters.");
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_COMMENT_BYTES) {
    throw invalidArgument(`comment is ${bytes} bytes; exe.dev allows at most ${MAX_COMMENT_BYTES}.`, {
      bytes,
      limitBytes: MAX_COMMENT_BYTES,
    });
  }
  return value;
}

function checkSetupScript(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "")
    throw invalidArgument("setupScript must be a non-empty string.");
  if (value.includes("\0") || value.includes("\r")) {
    throw invalidArgument("setupScript must not contain NUL bytes or carriage returns (use \\n line ends).");
  }
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_SETUP_SCRIPT_BYTES) {
    throw invalidArgument(
      `setupScript is ${bytes} bytes; exe.dev allows at most ${MAX_SETUP_SCRIPT_BYTES} (10 KiB).`,
      {
        bytes,
        limitBytes: MAX_SETUP_SCRIPT_BYTES,
      },
    );
  }
  return value;
}

function checkNoEmail(value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean") throw invalidArgument("noEmail must be a boolean.");
  return value;
}

const TAG_RULE = "must match ^[a-z][a-z0-9_-]*$";
const INTEGRATION_RULE = "must be non-empty, without spaces, commas or control characters";
const isIntegration = (item: string) => item !== "" && !/[\s,]/.test(item) && !CONTROL.test(item);

/** One rule per option of {@link NewVmOptions}: each throws `invalid_argument` naming its option. */
const NEW_VM_CHECKS: { readonly [K in keyof NewVmOptions]-?: (value: unknown) => unknown } = {
  name: (value) => (value === undefined ? undefined : validateVmName(value as string)),
  image: (value) => checkToken(value, "image"),
  command: (value) => checkSingleLine(value, "command"),
  cpu: checkCpu,
  memory: (value) => checkSize(value, "memory"),
  disk: (value) => checkSize(value, "disk"),
  env: checkEnvironment,
  tags: (value) => checkList(value, "tags", (tag) => TAG.test(tag), TAG_RULE),
  integrations: (value) => checkList(value, "integrations", isIntegration, INTEGRATION_RULE),
  comment: checkComment,
  setupScript: checkSetupScript,
  prompt: (value) => checkSingleLine(value, "prompt"),
  noEmail: checkNoEmail,
};

/** One problem with one option, as {@link checkNewVmOptions} reports it. */
export interface VmOptionProblem {
  /** The option, e.g. `"cpu"`; `"options"` when the options are not an object at all. */
  field: keyof NewVmOptions | "options";
  /** One sentence that names the option and says what it must be. Never quotes an env value, setup script or prompt. */
  message: string;
}

/**
 * Checks every option of {@link NewVmOptions} by exe.dev's rules (the ones `newVm` and
 * `createExeDevSandbox` enforce) and reports every problem, not just the first: one per bad
 * option, and one per bad `env` entry. No I/O; an empty list means `newVm` will accept them.
 * Options that are not part of `NewVmOptions` are ignored.
 *
 * @example
 * import { checkNewVmOptions } from "@exedev-sandbox/core";
 *
 * const problems = checkNewVmOptions({ cpu: 0, tags: ["Upper"], env: { "BAD-NAME": "x" } });
 * for (const { field, message } of problems) console.log(`${field}: ${message}`);
 * // cpu: cpu must be a whole number of at least 1.
 * // env: env name "BAD-NAME" is not a valid shell identifier.
 * // tags: tags entry "Upper" must match ^[a-z][a-z0-9_-]*$.
 */
export function checkNewVmOptions(options: NewVmOptions | undefined): VmOptionProblem[] {
  if (options === undefined) return [];
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    return [{ field: "options", message: "newVm options must be an object." }];
  }
  const input = options as Record<string, unknown>;
  const problems: VmOptionProblem[] = [];
  const attempt = (field: keyof NewVmOptions, check: () => unknown) => {
    try {
      check();
    } catch (error) {
      if (!isSandboxError(error, "invalid_argument")) throw error;
      problems.push({ field, message: error.message });
    }
  };
  for (const field of Object.keys(NEW_VM_CHECKS) as (keyof NewVmOptions)[]) {
    const value = input[field];
    const isEnvObject =
      field === "env" && typeof value === "object" && value !== null && !Array.isArray(value);
    if (!isEnvObject) attempt(field, () => NEW_VM_CHECKS[field](value));
    else for (const [name, item] of Object.entries(value)) attempt("env", () => checkEnvEntry(name, item));
  }
  return problems;
}

function nameOrGenerated(value: unknown): string {
  return value === undefined ? generateVmName() : validateVmName(value as string);
}

/**
 * Validates {@link NewVmOptions} before any I/O and turns them into `new` flags.
 * @throws SandboxError `invalid_argument` naming the option; secret values are never quoted.
 */
export function buildNewVmRequest(options: NewVmOptions | undefined): VmRequest {
  const input = checkObject(options, "newVm options") as NewVmOptions;
  const name = nameOrGenerated(input.name);
  const env = checkEnvironment(input.env);
  const setupScript = checkSetupScript(input.setupScript);
  const prompt = checkSingleLine(input.prompt, "prompt");
  checkNoEmail(input.noEmail);
  const flags: LobbyFlags = {
    name,
    image: checkToken(input.image, "image"),
    command: checkSingleLine(input.command, "command"),
    cpu: checkCpu(input.cpu),
    memory: checkSize(input.memory, "memory"),
    disk: checkSize(input.disk, "disk"),
    env,
    tag: checkList(input.tags, "tags", (tag) => TAG.test(tag), TAG_RULE),
    integration: checkList(input.integrations, "integrations", isIntegration, INTEGRATION_RULE),
    comment: checkComment(input.comment),
    "setup-script": setupScript,
    prompt,
    "no-email": input.noEmail === false ? undefined : true,
  };
  const secrets = [...Object.values(input.env ?? {}), setupScript, prompt].filter(
    (value): value is string => typeof value === "string",
  );
  return { name, flags, secrets };
}

/**
 * Validates {@link CloneVmOptions} before any I/O and turns them into `cp` flags.
 * @throws SandboxError `invalid_argument` naming the option.
 */
export function buildCloneVmRequest(options: CloneVmOptions | undefined): VmRequest {
  const input = checkObject(options, "cloneVm options") as CloneVmOptions;
  if (input.copyTags !== undefined && typeof input.copyTags !== "boolean") {
    throw invalidArgument("copyTags must be a boolean.");
  }
  const flags: LobbyFlags = {
    cpu: checkCpu(input.cpu),
    memory: checkSize(input.memory, "memory"),
    disk: checkSize(input.disk, "disk"),
    "copy-tags": input.copyTags,
  };
  return { name: nameOrGenerated(input.name), flags, secrets: [] };
}
