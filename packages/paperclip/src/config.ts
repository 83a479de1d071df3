import { generateVmName, isSandboxError, validateVmName } from "@exedev-sandbox/core";
import {
  FieldErrors,
  readBoolean,
  readEnvironment,
  readInteger,
  readList,
  readSize,
  readString,
} from "./config-fields.js";
import { isSecretRef, type SecretValue } from "./secret-ref.js";

/** How the VM's SSH host key is checked: trust on first use, known_hosts only, or one pinned fingerprint. */
export type HostKeySetting = "accept-new" | "strict" | `SHA256:${string}`;

/** One environment's settings, validated, with defaults applied. Secret fields may still be references. */
export interface ExeDevEnvironmentConfig {
  /** exe.dev API token. @default `$EXE_API_KEY`, else `$EXE_API_TOKEN` on the Paperclip host */
  apiKey?: SecretValue;
  /** Where the exe.dev API lives (`/exec` is appended). @default "https://exe.dev" */
  apiUrl?: string;
  /** Prefix of generated VM names. @default "paperclip" */
  namePrefix: string;
  /** A VM to clone for every lease instead of creating one (set by template capture). @default none */
  templateVm?: string;
  /** Container image of new VMs. @default exe.dev's "exeuntu" */
  image?: string;
  /** Container command of new VMs: `auto`, `none` or a command. @default "auto" */
  command?: string;
  /** Virtual CPUs. @default exe.dev's default (2) */
  cpu?: number;
  /** Memory, e.g. "8GB". @default exe.dev's default (8 GiB) */
  memory?: string;
  /** Disk, e.g. "25GB". @default the plan's size */
  disk?: string;
  /** Comment attached to new VMs (at most 200 bytes). @default none */
  comment?: string;
  /** Environment written into new VMs (login shells see it). Values are secret. @default {} */
  env: Record<string, string>;
  /** exe.dev integrations attached to new VMs. @default [] */
  integrations: string[];
  /** Tags of new VMs. @default [] */
  tags: string[];
  /** Script run once at first boot. Secret. @default none */
  setupScript?: string;
  /** Prompt for Shelley, exe.dev's agent. Secret. @default none */
  prompt?: string;
  /** Deadline of commands that come without one, in ms. @default 300000 */
  timeoutMs: number;
  /** Keep the VM when a lease is released, so it can be resumed. @default false */
  reuseLease: boolean;
  /** SSH login name when the VM record names none. @default the Paperclip host's user name */
  user?: string;
  /** SSH private key (OpenSSH or PEM), kept in memory only. Secret. @default `identityFile`, `$EXE_SSH_KEY`, `~/.ssh/id_*`, the SSH agent */
  privateKey?: SecretValue;
  /** Path of a private key file on the Paperclip host. @default none */
  identityFile?: string;
  /** SSH port, overriding the VM record's. @default the record's (22 on exe.dev) */
  port?: number;
  /** Host-key policy. @default "accept-new" */
  hostKey: HostKeySetting;
}

/** The outcome of {@link checkConfig}. */
export interface ConfigCheck {
  /** The config with defaults applied; only meaningful when `errors` is empty. */
  config: ExeDevEnvironmentConfig;
  /** One sentence per bad field, naming the field. */
  errors: string[];
  /** Settings that are accepted but probably not what was meant. */
  warnings: string[];
}

/** Default deadline of commands that come without one. */
export const DEFAULT_TIMEOUT_MS = 300_000;
const DEFAULT_NAME_PREFIX = "paperclip";
const KNOWN_FIELDS = new Set([
  "apiKey",
  "apiUrl",
  "namePrefix",
  "templateVm",
  "image",
  "command",
  "cpu",
  "memory",
  "disk",
  "comment",
  "env",
  "integrations",
  "tags",
  "setupScript",
  "prompt",
  "timeoutMs",
  "reuseLease",
  "user",
  "privateKey",
  "identityFile",
  "port",
  "hostKey",
  // Paperclip adds the provider key to sandbox environment configs.
  "provider",
]);
// Fields `cp` cannot apply: a clone keeps the template's image, command and first-boot state.
const CLONE_IGNORES = ["image", "command", "env", "integrations", "setupScript", "prompt"] as const;

function readSecret(
  raw: Record<string, unknown>,
  field: string,
  errors: FieldErrors,
): SecretValue | undefined {
  const value = raw[field];
  if (value === undefined || value === null || value === "") return undefined;
  if (isSecretRef(value)) return value as SecretValue;
  if (typeof value !== "string") return errors.add(field, "must be a string or a Paperclip secret.");
  return value.trim();
}

function readApiUrl(raw: Record<string, unknown>, errors: FieldErrors): string | undefined {
  const value = readString(raw, "apiUrl", errors, { singleLine: true });
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return errors.add("apiUrl", 'must be an absolute http(s) URL such as "https://exe.dev".');
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return errors.add("apiUrl", 'must be an absolute http(s) URL such as "https://exe.dev".');
  }
  // exe.dev documents the endpoint itself (https://exe.dev/exec); core appends /exec on its own.
  return value.replace(/\/+$/, "").replace(/\/exec$/, "");
}

function readHostKey(raw: Record<string, unknown>, errors: FieldErrors): HostKeySetting {
  const value = readString(raw, "hostKey", errors, { singleLine: true });
  if (value === undefined || value === "accept-new" || value === "strict") return value ?? "accept-new";
  const bare = value.startsWith("SHA256:") ? value.slice(7) : value;
  if (/^[A-Za-z0-9+/]{43}=?$/.test(bare)) return `SHA256:${bare.replace(/=$/, "")}`;
  errors.add(
    "hostKey",
    'must be "accept-new", "strict", or a pinned fingerprint such as "SHA256:JJOP/lwiBGOMilfONPWZCXUrfK154cnJFXcqlsi6lPo".',
  );
  return "accept-new";
}

function readNamePrefix(raw: Record<string, unknown>, errors: FieldErrors): string {
  const value = readString(raw, "namePrefix", errors, { singleLine: true }) ?? DEFAULT_NAME_PREFIX;
  try {
    generateVmName(value);
    return value;
  } catch (error) {
    errors.add("namePrefix", isSandboxError(error) ? error.message : "is not a usable VM name prefix.");
    return DEFAULT_NAME_PREFIX;
  }
}

function readVmName(raw: Record<string, unknown>, field: string, errors: FieldErrors): string | undefined {
  const value = readString(raw, field, errors, { singleLine: true });
  if (value === undefined) return undefined;
  try {
    return validateVmName(value.replace(/\.exe\.xyz$/, ""));
  } catch (error) {
    return errors.add(field, isSandboxError(error) ? error.message : "is not a valid VM name.");
  }
}

function readComment(raw: Record<string, unknown>, errors: FieldErrors): string | undefined {
  const value = readString(raw, "comment", errors, { singleLine: true });
  if (value !== undefined && Buffer.byteLength(value) > 200) {
    return errors.add("comment", "must be at most 200 bytes.");
  }
  return value;
}

function readAbsolutePath(
  raw: Record<string, unknown>,
  field: string,
  errors: FieldErrors,
): string | undefined {
  const value = readString(raw, field, errors, { singleLine: true });
  if (value !== undefined && !value.startsWith("/")) {
    return errors.add(field, "must be an absolute path on the Paperclip host.");
  }
  return value;
}

function hasApiKeyInEnvironment(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.EXE_API_KEY?.trim() || env.EXE_API_TOKEN?.trim());
}

/**
 * Validates an environment's raw config: one error per bad field, defaults filled in. Secret
 * fields are checked only for presence and type (a reference cannot be read here), and no secret
 * value ever appears in a message.
 *
 * @param env - Where the API-key fallback is looked up. @default process.env
 */
export function checkConfig(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ConfigCheck {
  const errors = new FieldErrors();
  const input = typeof raw === "object" && raw !== null && !Array.isArray(raw) ? raw : {};
  if (input !== raw) errors.add("config", "must be an object.");
  const singleLine = { singleLine: true };
  const config: ExeDevEnvironmentConfig = {
    apiKey: readSecret(input, "apiKey", errors),
    apiUrl: readApiUrl(input, errors),
    namePrefix: readNamePrefix(input, errors),
    templateVm: readVmName(input, "templateVm", errors),
    image: readString(input, "image", errors, singleLine),
    command: readString(input, "command", errors, singleLine),
    cpu: readInteger(input, "cpu", errors, { min: 1, max: 256 }),
    memory: readSize(input, "memory", errors),
    disk: readSize(input, "disk", errors),
    comment: readComment(input, errors),
    env: readEnvironment(input, "env", errors),
    integrations: readList(input, "integrations", errors, {
      test: (item) => item !== "" && !/[\s,\u0000-\u001f]/.test(item),
      says: "must be an integration name without spaces or commas",
    }),
    tags: readList(input, "tags", errors, {
      test: (item) => /^[a-z][a-z0-9_-]*$/.test(item),
      says: "must start with a lowercase letter and contain only lowercase letters, digits, '-' and '_'",
    }),
    setupScript: readString(input, "setupScript", errors),
    prompt: readString(input, "prompt", errors, singleLine),
    timeoutMs: readInteger(input, "timeoutMs", errors, { min: 1, max: 86_400_000 }) ?? DEFAULT_TIMEOUT_MS,
    reuseLease: readBoolean(input, "reuseLease", errors, false),
    user: readString(input, "user", errors, singleLine),
    privateKey: readSecret(input, "privateKey", errors),
    identityFile: readAbsolutePath(input, "identityFile", errors),
    port: readInteger(input, "port", errors, { min: 1, max: 65_535 }),
    hostKey: readHostKey(input, errors),
  };
  if (config.image !== undefined && /[\s,]/.test(config.image)) {
    errors.add("image", "must be an image reference without spaces or commas.");
  }
  if (config.user !== undefined && /\s/.test(config.user)) errors.add("user", "must not contain spaces.");
  const pastedKey = typeof config.privateKey === "string" && !isSecretRef(config.privateKey);
  if (pastedKey && !/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(config.privateKey as string)) {
    errors.add(
      "privateKey",
      "must be a private key in OpenSSH or PEM form (starting with -----BEGIN ... PRIVATE KEY-----), not a public key.",
    );
  }
  if (config.apiKey === undefined && !hasApiKeyInEnvironment(env)) {
    errors.add(
      "apiKey",
      "is required: paste an exe.dev API token, or set EXE_API_KEY (or EXE_API_TOKEN) in the Paperclip server's environment.",
    );
  }
  return { config, errors: errors.errors, warnings: warningsFor(input, config) };
}

function warningsFor(raw: Record<string, unknown>, config: ExeDevEnvironmentConfig): string[] {
  const warnings = Object.keys(raw)
    .filter((field) => !KNOWN_FIELDS.has(field))
    .map((field) => `${field}: unknown setting, ignored.`);
  if (config.templateVm !== undefined) {
    const ignored = CLONE_IGNORES.filter((field) => {
      const value = config[field];
      return Array.isArray(value) || (typeof value === "object" && value !== null)
        ? Object.keys(value).length > 0
        : value !== undefined;
    });
    if (ignored.length > 0) {
      warnings.push(
        `templateVm: leases clone ${config.templateVm}, so ${ignored.join(", ")} ${ignored.length === 1 ? "is" : "are"} ignored.`,
      );
    }
  }
  if (config.reuseLease) {
    warnings.push("reuseLease: released VMs keep running (and count against the plan) until destroyed.");
  }
  return warnings;
}
