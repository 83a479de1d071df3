// The plugin: build it (the worker entry does this with defaults) and its manifest

// Environment config: validation with per-field messages, and its shape
export {
  type ConfigCheck,
  checkConfig,
  type ExeDevEnvironmentConfig,
  type HostKeySetting,
} from "./config.js";
export { configSchema } from "./config-schema.js";
export { DRIVER_KEY, default as manifest } from "./manifest.js";
export { createExeDevPlugin, type ExeDevPluginOptions } from "./plugin.js";
export type { SecretRef, SecretValue } from "./secret-ref.js";
