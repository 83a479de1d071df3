// LangChain tools

// deepagents sandbox backend
export {
  createDeepAgentsBackend,
  type DeepAgentsBackendOptions,
  type ExeDevDeepAgentsBackend,
} from "./deepagents-backend.js";
export {
  createExeDevTools,
  type ExeDevTool,
  type ExeDevToolsOptions,
  type LangChainToolName,
} from "./langchain-tools.js";
