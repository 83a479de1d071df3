// LangChain tools

// deepagents sandbox backend
export { createDeepAgentsBackend, type DeepAgentsBackendOptions } from "./deepagents-backend.js";
export { createExeDevTools, type ExeDevToolsOptions } from "./tools.js";
