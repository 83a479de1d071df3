import { checkNewVmOptions, type NewVmOptions } from "@exedev-sandbox/core";
import { configSchema, type ExeDevEnvironmentConfig, environmentConfigSchema } from "./config-schema.js";
import { isSecretRef } from "./secret-ref.js";

/** The outcome of {@link checkConfig}. */
export interface ConfigCheck {
  /** The config with defaults applied; only meaningful when `errors` is empty. */
  config: ExeDevEnvironmentConfig;
  /** One sentence per bad field, naming the field. */
  errors: string[];
  /** Settings that are accepted but probably not what was meant. */
  warnings: string[];
}

// Paperclip adds the provider key to sandbox environment configs.
const KNOWN_FIELDS = new Set([...Object.keys(configSchema.properties ?? {}), "provider"]);
// Fields `cp` cannot apply: a clone keeps the template's image, command and first-boot state.
const CLONE_IGNORES = ["image", "command", "env", "integrations", "setupScript", "prompt"] as const;
const VM_FIELDS = new Set<string>([...CLONE_IGNORES, "cpu", "memory", "disk", "comment", "tags"]);

/** Parses every field; a field zod rejects gets its default, so the rest is still usable. */
function parseFields(input: Record<string, unknown>): { data: ExeDevEnvironmentConfig; errors: string[] } {
  const first = environmentConfigSchema.safeParse(input);
  const issues = first.error?.issues ?? [];
  const bad = new Map<string, string>();
  for (const { path, message } of issues) if (!bad.has(String(path[0]))) bad.set(String(path[0]), message);
  const rest = Object.fromEntries(Object.entries(input).filter(([field]) => !bad.has(field)));
  const data = first.data ?? environmentConfigSchema.parse(rest);
  const config = {
    ...data,
    env: data.env ?? {},
    integrations: data.integrations ?? [],
    tags: data.tags ?? [],
  };
  return { data: config, errors: [...bad].map(([field, problem]) => `${field}: ${problem}`) };
}

/** The `new` options a config asks for (without the VM name). */
export function vmOptionsOf(config: ExeDevEnvironmentConfig): NewVmOptions {
  const options = [...VM_FIELDS].map((field) => [field, config[field as keyof ExeDevEnvironmentConfig]]);
  return Object.fromEntries(options) as NewVmOptions;
}

/** Core's rules for the VM options; its sentences start with the option's name, Paperclip's put it first with a colon. */
function vmProblems(config: ExeDevEnvironmentConfig): string[] {
  return checkNewVmOptions(vmOptionsOf(config)).map(({ field, message }) =>
    message.startsWith(`${field} `) ? `${field}: ${message.slice(field.length + 1)}` : `${field}: ${message}`,
  );
}

/**
 * Validates an environment's raw config: one error per bad field, defaults filled in. Secret
 * fields are checked only for presence and type (a reference cannot be read here), and no secret
 * value ever appears in a message.
 *
 * @param env - Where the API-key fallback is looked up. @default process.env
 */
export function checkConfig(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ConfigCheck {
  const isObject = typeof raw === "object" && raw !== null && !Array.isArray(raw);
  const input = isObject ? raw : {};
  const { data: config, errors: fieldErrors } = parseFields(input);
  const errors = [...(isObject ? [] : ["config: must be an object."]), ...vmProblems(config), ...fieldErrors];
  const pastedKey = typeof config.privateKey === "string" && !isSecretRef(config.privateKey);
  if (pastedKey && !/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(config.privateKey as string)) {
    errors.push(
      "privateKey: must be a private key in OpenSSH or PEM form (starting with -----BEGIN ... PRIVATE KEY-----), not a public key.",
    );
  }
  if (config.apiKey === undefined && !(env.EXE_API_KEY?.trim() || env.EXE_API_TOKEN?.trim())) {
    errors.push(
      "apiKey: is required: paste an exe.dev API token, or set EXE_API_KEY (or EXE_API_TOKEN) in the Paperclip server's environment.",
    );
  }
  return { config, errors, warnings: warningsFor(input, config) };
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
