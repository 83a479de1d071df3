// The public API of @exedev-sandbox/vercel-ai-tools. Biome sorts these exports by path, so each
// group comment sits on the first export of its group.

// The AI SDK's experimental sandbox session (experimental, as the SDK's interface is)
export {
  type AiSdkSandboxOptions,
  createAiSdkSandbox,
  createAiSdkSandbox as experimental_createAiSdkSandbox,
} from "./ai-sdk-sandbox.js";
// A sandbox for bash-tool
export { type BashToolSandbox, type BashToolSandboxOptions, toBashToolSandbox } from "./bash-tool-sandbox.js";
// AI SDK tools
export {
  createExeDevTools,
  type ExeDevTool,
  type ExeDevToolSet,
  type ExeDevToolsOptions,
} from "./tools.js";
