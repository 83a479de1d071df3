// The public API of @exedev-sandbox/core. Biome sorts these exports by path, so each group
// comment sits on the first export of its group and the groups follow the source folders.

// How commands and files travel: connectSandbox's `transport` option, `sandbox.transport`
export type { Transport, TransportChoice } from "./agent/agent-transport.js";
// exe.dev control plane: the /exec client, its VM records, options and names
export type { LobbyFlags, LobbyFlagValue } from "./api/command-line.js";
export { deleteVm } from "./api/delete-vm.js";
export {
  createExeDevApi,
  type ExeDevApi,
  type ExeDevApiOptions,
  type RemoveVmOptions,
  type RemoveVmResult,
} from "./api/exe-dev-api.js";
export { createRedactor, type Redactor } from "./api/redact.js";
export { redactError } from "./api/redact-error.js";
export type { TagCommands, TagVmResult } from "./api/tag-commands.js";
export type { VmInfo } from "./api/vm-info.js";
export { generateVmName, validateVmName } from "./api/vm-name.js";
export {
  type CloneVmOptions,
  checkNewVmOptions,
  type NewVmOptions,
  type VmOptionProblem,
} from "./api/vm-options.js";
export type { AccountSshKey, WhoAmI } from "./api/whoami.js";
// Errors: one family, a string code each
export { isSandboxError, SandboxError, type SandboxErrorCode, type SandboxErrorOptions } from "./errors.js";
// exe.dev sandboxes: VM lifecycle + SSH
export {
  createExeDevSandbox,
  type ExeDevSandbox,
  type ExeDevSandboxOptions,
  type RestartOptions,
} from "./exedev-sandbox.js";
// Fleets: a warm pool of exe.dev sandboxes, lifetimes and the reaper
export type { AcquireOptions, SandboxPoolOptions } from "./fleet/pool-options.js";
export { type ReapedVm, type ReapVmsOptions, type ReapVmsResult, reapVms } from "./fleet/reap-vms.js";
export { createSandboxPool, type SandboxPool, type SandboxPoolStats } from "./fleet/sandbox-pool.js";
export { CREATED_VM_TAG, DEFAULT_TTL_MS, EXPIRY_TAG_PREFIX, expiryOf } from "./fleet/vm-marks.js";
// Glob matching (linear time, for patterns from users and models)
export { compileGlob, type GlobMatcher, type GlobOptions } from "./glob/glob-match.js";
// Reaching the VM: port forwards, exposed local ports, exe.dev's proxy URLs and sharing
export type {
  ExeDevReach,
  ExeDevShares,
  ExposedPort,
  ExposeLocalPortOptions,
  ForwardPortOptions,
  PortForward,
  PortForwarding,
  SandboxFetchInit,
  ShareLink,
  ShareStatus,
} from "./reach.js";
// The sandbox contract every transport implements and every adapter consumes
export type {
  DirEntry,
  DirectoryTransferOptions,
  DirectoryTransferResult,
  ExecOptions,
  ExecResult,
  FileOptions,
  FileStat,
  MkdirOptions,
  ProcessInfo,
  ProcessOutput,
  ProcessSignal,
  ReadFileOptions,
  ReadFileStreamOptions,
  RmOptions,
  Sandbox,
  SandboxProcess,
  SandboxShell,
  SandboxTerminal,
  ShellOptions,
  ShellRunOptions,
  SpawnOptions,
  TerminalOptions,
  WaitForOutputOptions,
  WaitForPortOptions,
  WriteFileOptions,
  WriteFileStreamOptions,
} from "./sandbox.js";
// Sandboxes kept open per key (one dial shared, dropped when gone)
export { SandboxCache, type SandboxCacheCloseOptions, type SandboxCacheOptions } from "./sandbox-cache.js";
export { isSandboxGone } from "./sandbox-gone.js";
export type { WaitForSetupOption } from "./setup-wait.js";
// SSH: connecting to any server, host keys, key pairs, quoting
export type { ConnectOptions } from "./ssh/connect-options.js";
export { fingerprintOf, type HostKeyPolicy } from "./ssh/host-key.js";
export { generateSshKeyPair, type SshKeyPair } from "./ssh/key-pair.js";
export { shellQuote } from "./ssh/shell-quote.js";
export { connectSandbox, type SshSandbox } from "./ssh/ssh-sandbox.js";
// exe0 tokens
export { inspectToken, type VerifiedToken } from "./token/inspect-token.js";
export { type MintTokenOptions, mintToken } from "./token/mint-token.js";
export { type MintVmTokenOptions, mintVmToken, vmTokenNamespace } from "./token/mint-vm-token.js";
export type { TokenPermissions } from "./token/payload.js";
export { type PublicKeyInfo, type PublicKeyOfOptions, publicKeyOf } from "./token/public-key-of.js";
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
export {
  type ListedProcess,
  type ListProcessesToolInput,
  type ListProcessesToolOutput,
  listProcessesTool,
} from "./tools/list-processes-tool.js";
export {
  type PreviewUrlToolInput,
  type PreviewUrlToolOutput,
  previewUrlTool,
} from "./tools/preview-url-tool.js";
export {
  type ProcessOutputToolInput,
  type ProcessOutputToolOutput,
  processOutputTool,
} from "./tools/process-output-tool.js";
export type { ProcessToolOutput } from "./tools/process-tool-text.js";
export { type ReadFileToolInput, type ReadFileToolOutput, readFileTool } from "./tools/read-file-tool.js";
export {
  type StartProcessToolInput,
  type StartProcessToolOutput,
  startProcessTool,
} from "./tools/start-process-tool.js";
export {
  type StopProcessToolInput,
  type StopProcessToolOutput,
  stopProcessTool,
} from "./tools/stop-process-tool.js";
export type { ToolResult, ToolRunContext, ToolSpec } from "./tools/tool-spec.js";
export { type AnyToolSpec, type ToolName, toolSpecs } from "./tools/tool-specs.js";
export { type WriteFileToolInput, type WriteFileToolOutput, writeFileTool } from "./tools/write-file-tool.js";
