// The public API of @exedev-sandbox/paperclip. Biome sorts these exports by path, so each group
// comment sits on the first export of its group.

// Environment config: validation with per-field messages, its shape and its JSON schema
export { type ConfigCheck, checkConfig } from "./config.js";
export { configSchema, type ExeDevEnvironmentConfig, type HostKeySetting } from "./config-schema.js";
// The plugin (the worker entry builds it with defaults), its manifest, and the secret
// references its config may hold
export { DRIVER_KEY, default as manifest } from "./manifest.js";
export { createExeDevPlugin, type ExeDevPluginOptions } from "./plugin.js";
export type { SecretRef, SecretValue } from "./secret-ref.js";
