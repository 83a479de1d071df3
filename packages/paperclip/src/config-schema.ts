import { generateVmName, isSandboxError, validateVmName } from "@exedev-sandbox/core";
import type { JsonSchema } from "@paperclipai/plugin-sdk";
import { z } from "zod";
import { isSecretRef, type SecretValue } from "./secret-ref.js";

/**
 * The one description of an exe.dev environment's config: zod reads and reshapes each field
 * (form inputs send strings), and `z.toJSONSchema` turns the same schema, with its metadata, into
 * the JSON Schema Paperclip renders. The VM's own options are only reshaped here: their rules are
 * core's `checkNewVmOptions`, so their JSON types are given in the metadata. Messages never quote
 * a value: some are secrets.
 */

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
  /** SSH login name, used instead of the VM record's. @default the record's, else the Paperclip host's user name */
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

/** How the VM's SSH host key is checked: trust on first use, known_hosts only, or one pinned fingerprint. */
export type HostKeySetting = "accept-new" | "strict" | `SHA256:${string}`;

const advanced = (group: string) => ({ "x-paperclip-advanced": true, "x-paperclip-group": group });
const blank = (value: unknown) =>
  value === null || (typeof value === "string" && value.trim() === "") ? undefined : value;
const numeric = (value: unknown) =>
  typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : blank(value);
const trimmed = (value: unknown) => (typeof value === "string" ? blank(value.trim()) : blank(value));
const sized = (value: unknown) =>
  typeof value === "number" && Number.isInteger(value) && value >= 1 ? `${value}GiB` : trimmed(value);
const listed = (value: unknown) =>
  typeof blank(value) === "string"
    ? (value as string)
        .split(",")
        .map((item) => item.trim())
        .filter(Boolean)
    : blank(value);

const singleLine = z
  .string({ error: "must be a string." })
  .refine(
    (value) => !/[\u0000-\u001f\u007f]/.test(value),
    "must be a single line without control characters.",
  )
  .trim();
/** A trimmed single-line string; absent when empty. */
const line = () => z.preprocess(blank, singleLine.optional());
/** A trimmed single-line string; `fallback` when empty. */
const lineOr = (fallback: string) => z.preprocess(blank, singleLine.default(fallback));

/** A whole number in a range; numeric strings are accepted because form inputs may send them. */
const whole = (min: number, max: number) => {
  const error = `must be a whole number from ${min} to ${max}.`;
  return z.number({ error }).int(error).min(min, error).max(max, error);
};

/** A secret: the trimmed value itself, or a Paperclip reference that is not resolved yet. */
const secret = (meta: { title: string; description: string }) =>
  z
    .preprocess(
      trimmed,
      z
        .custom<SecretValue>(
          (value) => typeof value === "string" || isSecretRef(value),
          "must be a string or a Paperclip secret.",
        )
        .optional(),
    )
    .meta({ type: "string", format: "secret-ref", ...meta });

/** A VM option, reshaped only: core checks it, so `meta` also gives its JSON Schema type. */
const vmOption = <T>(reshape: (value: unknown) => unknown, meta: Record<string, unknown>) =>
  z.preprocess(reshape, z.custom<T>().optional()).meta(meta);

/** Runs one of core's name rules, reporting its message on the field. */
function coreRule<T extends string | undefined>(rule: (value: string) => unknown, fallback: string) {
  return (value: T, context: z.RefinementCtx): T => {
    try {
      if (value !== undefined) rule(value);
    } catch (error) {
      context.addIssue(isSandboxError(error) ? error.message : fallback);
    }
    return value;
  };
}

function apiUrl(value: string | undefined, context: z.RefinementCtx): string | undefined {
  if (value === undefined) return undefined;
  const protocol = URL.parse(value)?.protocol;
  if (protocol !== "https:" && protocol !== "http:") {
    context.addIssue('must be an absolute http(s) URL such as "https://exe.dev".');
    return z.NEVER;
  }
  // exe.dev documents the endpoint itself (https://exe.dev/exec); core appends /exec on its own.
  return value.replace(/\/+$/, "").replace(/\/exec$/, "");
}

function hostKey(value: string, context: z.RefinementCtx): HostKeySetting {
  if (value === "accept-new" || value === "strict") return value;
  const bare = value.startsWith("SHA256:") ? value.slice(7) : value;
  if (/^[A-Za-z0-9+/]{43}=?$/.test(bare)) return `SHA256:${bare.replace(/=$/, "")}`;
  context.addIssue(
    'must be "accept-new", "strict", or a pinned fingerprint such as "SHA256:JJOP/lwiBGOMilfONPWZCXUrfK154cnJFXcqlsi6lPo".',
  );
  return z.NEVER;
}

type ListFields = "env" | "integrations" | "tags";

/** The zod schema of one environment's config (`checkConfig` fills in empty `env`, `integrations` and `tags`); `checkConfig` adds core's VM rules and the cross-field checks. */
export const environmentConfigSchema: z.ZodType<
  Omit<ExeDevEnvironmentConfig, ListFields> & Partial<Pick<ExeDevEnvironmentConfig, ListFields>>
> = z.object({
  apiKey: secret({
    title: "exe.dev API token",
    description:
      "An exe.dev API token (exe0.… or exe1.…) whose cmds allow new, ls, rm and cp (and whoami for probes). Leave empty to use EXE_API_KEY or EXE_API_TOKEN from the Paperclip server's environment.",
  }),
  privateKey: secret({
    title: "SSH private key",
    description:
      "The private key (OpenSSH or PEM) of an SSH key registered with your exe.dev account. Kept in memory only. Leave empty to use identityFile or the server's default keys.",
  }),
  namePrefix: lineOr("paperclip")
    .transform(coreRule<string>(generateVmName, "is not a usable VM name prefix."))
    .meta({
      title: "VM name prefix",
      description: "Prefix of generated VM names (lowercase letters, digits and hyphens).",
    }),
  templateVm: line()
    .transform((value) => value?.replace(/\.exe\.xyz$/, ""))
    .transform(coreRule<string | undefined>(validateVmName, "is not a valid VM name."))
    .meta({
      title: "Template VM",
      description:
        "Clone this VM for every lease instead of creating a fresh one. Set by template capture; image, command, env, integrations, setupScript and prompt are then ignored.",
      ...advanced("VM creation"),
    }),
  image: vmOption<string>(trimmed, {
    type: "string",
    title: "Image",
    description: 'Container image of new VMs. Leave empty for exe.dev\'s default, "exeuntu".',
    ...advanced("VM creation"),
  }),
  command: vmOption<string>(trimmed, {
    type: "string",
    title: "Container command",
    description: 'Container command of new VMs: "auto", "none" or a command.',
    ...advanced("VM creation"),
  }),
  cpu: vmOption<number>(numeric, {
    type: "integer",
    minimum: 1,
    title: "CPUs",
    description: "Virtual CPUs.",
    ...advanced("VM resources"),
  }),
  memory: vmOption<string>(sized, {
    type: "string",
    title: "Memory",
    description: 'Memory, such as "8GB" (1024-based units).',
    ...advanced("VM resources"),
  }),
  disk: vmOption<string>(sized, {
    type: "string",
    title: "Disk",
    description: 'Disk, such as "25GB".',
    ...advanced("VM resources"),
  }),
  comment: vmOption<string>(trimmed, {
    type: "string",
    maxLength: 200,
    title: "Comment",
    description: "A note shown on created VMs.",
    ...advanced("VM creation"),
  }),
  env: vmOption<Record<string, string>>((value) => value ?? undefined, {
    type: "object",
    additionalProperties: { type: "string" },
    title: "VM environment",
    description:
      "Environment variables written into new VMs; commands see them through the login shell. Values are treated as secrets in errors and logs.",
    ...advanced("VM creation"),
  }),
  integrations: vmOption<string[]>(listed, {
    type: "array",
    items: { type: "string" },
    title: "Integrations",
    description: "exe.dev integrations to attach to new VMs.",
    ...advanced("VM creation"),
  }),
  tags: vmOption<string[]>(listed, {
    type: "array",
    items: { type: "string", pattern: "^[a-z][a-z0-9_-]*$" },
    title: "Tags",
    description: "Tags of new VMs.",
    ...advanced("VM creation"),
  }),
  setupScript: vmOption<string>(blank, {
    type: "string",
    title: "Setup script",
    description:
      "Runs once at first boot (exeuntu images), in the background: exe.dev does not report when it has finished. Treated as a secret.",
    ...advanced("VM creation"),
  }),
  prompt: vmOption<string>(trimmed, {
    type: "string",
    title: "Shelley prompt",
    description: "A prompt for Shelley, exe.dev's agent, on new exeuntu VMs. Treated as a secret.",
    ...advanced("VM creation"),
  }),
  timeoutMs: z.preprocess(numeric, whole(1, 86_400_000).default(300_000)).meta({
    title: "Command timeout (ms)",
    description: "Deadline of commands and sync steps that Paperclip sends without one.",
    ...advanced("Runtime"),
  }),
  reuseLease: z
    .preprocess((value) => value ?? undefined, z.boolean({ error: "must be true or false." }).default(false))
    .meta({
      title: "Reuse VMs",
      description:
        "Keep the VM when a run ends so the next run can resume it. Kept VMs keep running until destroyed.",
      ...advanced("Runtime"),
    }),
  apiUrl: line()
    .transform(apiUrl)
    .meta({
      title: "API URL",
      description: 'exe.dev API base URL. Leave empty for "https://exe.dev".',
      ...advanced("Runtime"),
    }),
  user: line()
    .refine((value) => value === undefined || !/\s/.test(value), "must not contain spaces.")
    .meta({
      title: "SSH user",
      description: "Login name, when the VM record names none. exe.dev routes by host name and ignores it.",
      ...advanced("SSH access"),
    }),
  identityFile: line()
    .refine((value) => value?.startsWith("/") ?? true, "must be an absolute path on the Paperclip host.")
    .meta({
      title: "Identity file",
      description:
        "Absolute path of a private key file on the Paperclip server, used when privateKey is empty.",
      ...advanced("SSH access"),
    }),
  port: z.preprocess(numeric, whole(1, 65_535).optional()).meta({
    title: "SSH port",
    description: "Overrides the SSH port from exe.dev's VM record (normally 22).",
    ...advanced("SSH access"),
  }),
  hostKey: lineOr("accept-new")
    .transform(hostKey)
    .meta({
      title: "Host key policy",
      description:
        '"accept-new" (trust on first use), "strict" (known_hosts only), or a pinned fingerprint such as exe.dev\'s shared "SHA256:JJOP/lwiBGOMilfONPWZCXUrfK154cnJFXcqlsi6lPo".',
      ...advanced("SSH access"),
    }),
});

/**
 * The JSON Schema of an exe.dev environment's config, as Paperclip renders it, generated from
 * {@link environmentConfigSchema}. Secret fields use `format: "secret-ref"`, so Paperclip stores
 * pasted values as company secrets and shows a secret picker.
 */
export const configSchema: JsonSchema = z.toJSONSchema(environmentConfigSchema, {
  io: "input",
  unrepresentable: "any",
});
