// The public API of @exedev-sandbox/langchain-tools. Biome sorts these exports by path, so each
// group comment sits on the first export of its group.

// deepagents sandbox backend
export {
  createDeepAgentsBackend,
  type DeepAgentsBackendOptions,
  type ExeDevDeepAgentsBackend,
} from "./deepagents-backend.js";
// LangChain tools
export {
  createExeDevTools,
  type ExeDevTool,
  type ExeDevToolsOptions,
  type LangChainToolName,
} from "./langchain-tools.js";
