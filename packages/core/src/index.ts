// Errors

// SSH transport
export type { Transport, TransportChoice } from "./agent/agent-transport.js";
// exe.dev control plane
export type { LobbyFlags, LobbyFlagValue } from "./api/command-line.js";
export {
  createExeDevApi,
  type ExeDevApi,
  type ExeDevApiOptions,
  type RemoveVmResult,
} from "./api/exe-dev-api.js";
export { type LobbyArgs, parseLobbyArgs, splitLobbyWords } from "./api/lobby-words.js";
export type { VmInfo } from "./api/vm-info.js";
export { generateVmName, validateVmName } from "./api/vm-name.js";
export type { CloneVmOptions, NewVmOptions } from "./api/vm-options.js";
export type { AccountSshKey, WhoAmI } from "./api/whoami.js";
export { isSandboxError, SandboxError, type SandboxErrorCode, type SandboxErrorOptions } from "./errors.js";
// exe.dev sandboxes: VM lifecycle + SSH
export {
  createExeDevSandbox,
  type ExeDevSandbox,
  type ExeDevSandboxOptions,
  type RestartOptions,
} from "./exedev-sandbox.js";
// Glob matching (linear time, for patterns from users and models)
export { compileGlob, type GlobMatcher, type GlobOptions } from "./glob/glob-match.js";
// The sandbox contract
export type {
  DirEntry,
  ExecOptions,
  ExecResult,
  FileStat,
  MkdirOptions,
  ReadFileOptions,
  RmOptions,
  Sandbox,
  WriteFileOptions,
} from "./sandbox.js";
export type { ConnectOptions } from "./ssh/connect-options.js";
export { fingerprintOf, type HostKeyPolicy } from "./ssh/host-key.js";
export { generateSshKeyPair, type SshKeyPair } from "./ssh/key-pair.js";
export { shellQuote } from "./ssh/shell-quote.js";
export { connectSandbox, SshSandbox } from "./ssh/ssh-sandbox.js";
// exe0 tokens
export { inspectToken, type VerifiedToken } from "./token/inspect-token.js";
export { type MintTokenOptions, mintToken } from "./token/mint-token.js";
export type { TokenPermissions } from "./token/payload.js";
export { type VerifyTokenOptions, verifyToken } from "./token/verify-token.js";
// Framework-neutral tools
export { type BashToolInput, type BashToolOutput, bashTool } from "./tools/bash-tool.js";
export { type EditFileToolInput, type EditFileToolOutput, editFileTool } from "./tools/edit-file-tool.js";
export {
  type ListedFile,
  type ListFilesToolInput,
  type ListFilesToolOutput,
  listFilesTool,
} from "./tools/list-files-tool.js";
export { type ReadFileToolInput, type ReadFileToolOutput, readFileTool } from "./tools/read-file-tool.js";
export type { ToolResult, ToolRunContext, ToolSpec } from "./tools/tool-spec.js";
export { type AnyToolSpec, type ToolName, toolSpecs } from "./tools/tool-specs.js";
export { type WriteFileToolInput, type WriteFileToolOutput, writeFileTool } from "./tools/write-file-tool.js";
