// Errors
export { isSandboxError, SandboxError, type SandboxErrorCode, type SandboxErrorOptions } from "./errors.js";
// The sandbox contract
export type {
  DirEntry,
  ExecOptions,
  ExecResult,
  FileStat,
  MkdirOptions,
  RmOptions,
  Sandbox,
  WriteFileOptions,
} from "./sandbox.js";
// SSH transport
export type { ConnectOptions } from "./ssh/connect-options.js";
export { fingerprintOf, type HostKeyPolicy } from "./ssh/host-key.js";
export { shellQuote } from "./ssh/shell-quote.js";
export { connectSandbox, SshSandbox } from "./ssh/ssh-sandbox.js";
// exe0 tokens
export { inspectToken, type VerifiedToken } from "./token/inspect-token.js";
export { type MintTokenOptions, mintToken } from "./token/mint-token.js";
export type { TokenPermissions } from "./token/payload.js";
export { type VerifyTokenOptions, verifyToken } from "./token/verify-token.js";
