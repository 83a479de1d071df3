// AI SDK tools

// The AI SDK's experimental sandbox session (experimental, as the SDK's interface is)
export {
  type AiSdkSandboxOptions,
  createAiSdkSandbox,
  createAiSdkSandbox as experimental_createAiSdkSandbox,
} from "./ai-sdk-sandbox.js";

// bash-tool
export { type BashToolSandbox, type BashToolSandboxOptions, toBashToolSandbox } from "./bash-tool-sandbox.js";
export {
  createExeDevTools,
  type ExeDevTool,
  type ExeDevToolSet,
  type ExeDevToolsOptions,
} from "./tools.js";
