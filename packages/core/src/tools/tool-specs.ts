import { bashTool } from "./bash-tool.js";
import { editFileTool } from "./edit-file-tool.js";
import { listFilesTool } from "./list-files-tool.js";
import { listProcessesTool } from "./list-processes-tool.js";
import { previewUrlTool } from "./preview-url-tool.js";
import { processOutputTool } from "./process-output-tool.js";
import { readFileTool } from "./read-file-tool.js";
import { startProcessTool } from "./start-process-tool.js";
import { stopProcessTool } from "./stop-process-tool.js";
import type { ToolSpec } from "./tool-spec.js";
import { writeFileTool } from "./write-file-tool.js";

/** Any tool spec, for adapters that convert them all the same way (they validate input with `inputSchema` first). */
export type AnyToolSpec = ToolSpec<unknown, object>;

/** Every tool spec, in the order adapters present them. */
export const toolSpecs: readonly AnyToolSpec[] = [
  bashTool,
  readFileTool,
  writeFileTool,
  editFileTool,
  listFilesTool,
  startProcessTool,
  processOutputTool,
  stopProcessTool,
  listProcessesTool,
  previewUrlTool,
];

/** The canonical tool names. */
export type ToolName =
  | "bash"
  | "readFile"
  | "writeFile"
  | "editFile"
  | "listFiles"
  | "startProcess"
  | "processOutput"
  | "stopProcess"
  | "listProcesses"
  | "previewUrl";
