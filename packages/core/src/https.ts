/**
 * `@exedev-sandbox/core/https`: the HTTPS-only sandbox. Its module graph imports nothing from
 * `node:` (nor ssh2), so it runs in Workers and edge runtimes.
 */
export { isSandboxError, SandboxError, type SandboxErrorCode } from "./errors.js";
export { createHttpsSandbox, type HttpsSandboxOptions } from "./https/https-sandbox.js";
export type { HttpsApiOptions } from "./https/https-transport.js";
export type * from "./sandbox.js";
