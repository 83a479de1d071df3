import type { JsonSchema } from "@paperclipai/plugin-sdk";

const advanced = (group: string) => ({ "x-paperclip-advanced": true, "x-paperclip-group": group });

/**
 * The JSON Schema of an exe.dev environment's config, as Paperclip renders it. Secret fields use
 * `format: "secret-ref"`, so Paperclip stores pasted values as company secrets and shows a secret
 * picker.
 */
export const configSchema: JsonSchema = {
  type: "object",
  properties: {
    apiKey: {
      type: "string",
      format: "secret-ref",
      title: "exe.dev API token",
      description:
        "An exe.dev API token (exe0.… or exe1.…) whose cmds allow new, ls, rm and cp (and whoami for probes). Leave empty to use EXE_API_KEY or EXE_API_TOKEN from the Paperclip server's environment.",
    },
    privateKey: {
      type: "string",
      format: "secret-ref",
      title: "SSH private key",
      description:
        "The private key (OpenSSH or PEM) of an SSH key registered with your exe.dev account. Kept in memory only. Leave empty to use identityFile or the server's default keys.",
    },
    namePrefix: {
      type: "string",
      title: "VM name prefix",
      default: "paperclip",
      description: "Prefix of generated VM names (lowercase letters, digits and hyphens).",
    },
    templateVm: {
      type: "string",
      title: "Template VM",
      description:
        "Clone this VM for every lease instead of creating a fresh one. Set by template capture; image, command, env, integrations, setupScript and prompt are then ignored.",
      ...advanced("VM creation"),
    },
    image: {
      type: "string",
      title: "Image",
      description: 'Container image of new VMs. Leave empty for exe.dev\'s default, "exeuntu".',
      ...advanced("VM creation"),
    },
    command: {
      type: "string",
      title: "Container command",
      description: 'Container command of new VMs: "auto", "none" or a command.',
      ...advanced("VM creation"),
    },
    cpu: {
      type: "integer",
      minimum: 1,
      title: "CPUs",
      description: "Virtual CPUs.",
      ...advanced("VM resources"),
    },
    memory: {
      type: "string",
      title: "Memory",
      description: 'Memory, such as "8GB" (1024-based units).',
      ...advanced("VM resources"),
    },
    disk: {
      type: "string",
      title: "Disk",
      description: 'Disk, such as "25GB".',
      ...advanced("VM resources"),
    },
    comment: {
      type: "string",
      maxLength: 200,
      title: "Comment",
      description: "A note shown on created VMs.",
      ...advanced("VM creation"),
    },
    env: {
      type: "object",
      additionalProperties: { type: "string" },
      title: "VM environment",
      description:
        "Environment variables written into new VMs; commands see them through the login shell. Values are treated as secrets in errors and logs.",
      ...advanced("VM creation"),
    },
    integrations: {
      type: "array",
      items: { type: "string" },
      title: "Integrations",
      description: "exe.dev integrations to attach to new VMs.",
      ...advanced("VM creation"),
    },
    tags: {
      type: "array",
      items: { type: "string", pattern: "^[a-z][a-z0-9_-]*$" },
      title: "Tags",
      description: "Tags of new VMs.",
      ...advanced("VM creation"),
    },
    setupScript: {
      type: "string",
      title: "Setup script",
      description:
        "Runs once at first boot (exeuntu images), in the background: exe.dev does not report when it has finished. Treated as a secret.",
      ...advanced("VM creation"),
    },
    prompt: {
      type: "string",
      title: "Shelley prompt",
      description: "A prompt for Shelley, exe.dev's agent, on new exeuntu VMs. Treated as a secret.",
      ...advanced("VM creation"),
    },
    timeoutMs: {
      type: "integer",
      minimum: 1,
      maximum: 86_400_000,
      default: 300_000,
      title: "Command timeout (ms)",
      description: "Deadline of commands and sync steps that Paperclip sends without one.",
      ...advanced("Runtime"),
    },
    reuseLease: {
      type: "boolean",
      default: false,
      title: "Reuse VMs",
      description:
        "Keep the VM when a run ends so the next run can resume it. Kept VMs keep running until destroyed.",
      ...advanced("Runtime"),
    },
    apiUrl: {
      type: "string",
      title: "API URL",
      description: 'exe.dev API base URL. Leave empty for "https://exe.dev".',
      ...advanced("Runtime"),
    },
    user: {
      type: "string",
      title: "SSH user",
      description: "Login name, when the VM record names none. exe.dev routes by host name and ignores it.",
      ...advanced("SSH access"),
    },
    identityFile: {
      type: "string",
      title: "Identity file",
      description:
        "Absolute path of a private key file on the Paperclip server, used when privateKey is empty.",
      ...advanced("SSH access"),
    },
    port: {
      type: "integer",
      minimum: 1,
      maximum: 65_535,
      title: "SSH port",
      description: "Overrides the SSH port from exe.dev's VM record (normally 22).",
      ...advanced("SSH access"),
    },
    hostKey: {
      type: "string",
      default: "accept-new",
      title: "Host key policy",
      description:
        '"accept-new" (trust on first use), "strict" (known_hosts only), or a pinned fingerprint such as exe.dev\'s shared "SHA256:JJOP/lwiBGOMilfONPWZCXUrfK154cnJFXcqlsi6lPo".',
      ...advanced("SSH access"),
    },
  },
};
