export {
  type AdapterContractOptions,
  type AdapterExecResult,
  type AdapterHarness,
  type AdapterSetup,
  defineAdapterContract,
} from "./adapter-contract.ts";
export {
  ASYNCSSH_PYTHON,
  ASYNCSSH_SERVER_SCRIPT,
  hasAsyncssh,
  type StartAsyncsshServerOptions,
  startAsyncsshServer,
} from "./asyncssh-server.ts";
export { defineDirectoryTransferContract } from "./directory-contract.ts";
export {
  DROPBEAR_SFTP_SERVER_PATH,
  type DropbearServer,
  findDropbear,
  type StartDropbearOptions,
  startDropbear,
} from "./dropbear.ts";
export { escapingLinks } from "./escaping-links.ts";
export {
  defineFileStreamContract,
  type FileStreamContractContext,
  openersOf,
  untilClosedEverywhere,
  untilNoTempFiles,
} from "./file-streams-contract.ts";
export { type Forwarder, type ForwarderOptions, startForwarder } from "./forwarder.ts";
export { describeWithSshd } from "./gate.ts";
export { type KillableMachine, MACHINE_GONE_RECONNECT_MS, startKillableMachine } from "./killable-machine.ts";
export { useSshd } from "./lazy.ts";
export { useAsyncsshServer, useDropbear } from "./lazy-servers.ts";
export {
  type LobbyReply,
  type LobbyRequest,
  type LobbyServer,
  type LobbyServerOptions,
  routeLobbyToSshd,
  type StoredVm,
  startLobbyServer,
} from "./lobby-server.ts";
export { type LobbyArgs, parseLobbyArgs, splitLobbyWords } from "./lobby-words.ts";
export {
  definePortForwardContract,
  type ForwardingSandbox,
  freePort,
  type PortForwardContractOptions,
} from "./port-forward-contract.ts";
export { defineProcessContract, type ProcessContractContext } from "./process-contract.ts";
export { remainingProcesses } from "./remote-processes.ts";
export {
  defineSandboxContract,
  expectSandboxError,
  type SandboxContractFaults,
  type SandboxContractOptions,
  type SandboxServerCapabilities,
} from "./sandbox-contract.ts";
export { type ScratchSandbox, type ScratchSandboxOptions, useScratchSandbox } from "./scratch-sandbox.ts";
export { describeWithAsyncssh, describeWithDropbear, describeWithTinysshd } from "./server-gates.ts";
export {
  findSshd,
  isRoot,
  type SshdServer,
  type StartSshdOptions,
  startSshd,
  type TestSshServer,
  UNPRIVILEGED_TEST_USER,
} from "./sshd.ts";
export { defineTerminalContract, type TerminalContractContext } from "./terminal-contract.ts";
export { startTinysshd, type TinysshdServer } from "./tinysshd.ts";
export { type ToolCaller, type ToolCallOutcome, toolResultHarness } from "./tool-harness.ts";
