// Errors

// exe.dev control plane
export type { LobbyFlags, LobbyFlagValue } from "./api/command-line.js";
export {
  createExeDevApi,
  type ExeDevApi,
  type ExeDevApiOptions,
  type RemoveVmResult,
} from "./api/exe-dev-api.js";
export type { VmInfo } from "./api/vm-info.js";
export { generateVmName, validateVmName } from "./api/vm-name.js";
export type { CloneVmOptions, NewVmOptions } from "./api/vm-options.js";
export type { AccountSshKey, WhoAmI } from "./api/whoami.js";
export { isSandboxError, SandboxError, type SandboxErrorCode, type SandboxErrorOptions } from "./errors.js";
// exe.dev sandboxes: VM lifecycle + SSH
export { createExeDevSandbox, type ExeDevSandbox, type ExeDevSandboxOptions } from "./exedev-sandbox.js";
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
