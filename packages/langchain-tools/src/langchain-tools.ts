import {
  type AnyToolSpec,
  type Sandbox,
  type ToolName,
  type ToolResult,
  toolSpecs,
} from "@exedev-sandbox/core";
import { ToolMessage } from "@langchain/core/messages";
import { type DynamicStructuredTool, type ToolRunnableConfig, tool } from "@langchain/core/tools";
import type { InteropZodObject } from "@langchain/core/utils/types";
import { checkPositiveIntegers, invalidOption } from "./options.js";

/** The tools' names as LangChain sees them (core's `snakeName`s). */
export type LangChainToolName =
  | "bash"
  | "read_file"
  | "write_file"
  | "edit_file"
  | "list_files"
  | "start_process"
  | "process_output"
  | "stop_process"
  | "list_processes"
  | "preview_url";

/** Options for {@link createExeDevTools}. */
export interface ExeDevToolsOptions {
  /** Which tools to offer, by LangChain name (`"read_file"`) or core name (`"readFile"`), e.g. `["read_file", "list_files"]` for a read-only agent. @default all ten: bash, read_file, write_file, edit_file, list_files, start_process, process_output, stop_process, list_processes, preview_url */
  tools?: readonly (LangChainToolName | ToolName)[];
  /** Absolute directory that relative paths and commands start from. It must exist (`write_file` creates parents, `bash` does not). @default the sandbox's home directory */
  cwd?: string;
  /** Deadline for `bash` when the model gives none (`timeoutMs` in its input), in ms; the command is then killed (exit code 124). @default 120000 */
  defaultTimeoutMs?: number;
  /** Longest text a tool returns to the model, in characters; the middle of longer output is cut with a marker. @default 30000 */
  maxOutputChars?: number;
}

/**
 * One of the tools {@link createExeDevTools} returns: a LangChain structured tool whose
 * ToolMessage carries the text for the model as `content` and core's structured result
 * (`ToolResult`) as `artifact`.
 */
export type ExeDevTool = DynamicStructuredTool;

function checkOptions(options: ExeDevToolsOptions): void {
  const factory = "createExeDevTools";
  const known = toolSpecs.flatMap((spec) => [spec.snakeName, spec.name]);
  for (const name of options.tools ?? []) {
    if (!known.includes(name)) {
      throw invalidOption(
        factory,
        "tools",
        `unknown tool "${name}"; pick from ${toolSpecs.map((spec) => spec.snakeName).join(", ")}.`,
      );
    }
  }
  if (options.cwd !== undefined && !options.cwd.startsWith("/")) {
    throw invalidOption(
      factory,
      "cwd",
      "cwd must be an absolute path, such as a directory under sandbox.homeDir.",
    );
  }
  checkPositiveIntegers(factory, options, ["defaultTimeoutMs", "maxOutputChars"]);
}

/**
 * LangChain tools on an exe.dev sandbox: `bash`, `read_file`, `write_file`, `edit_file`,
 * `list_files`, and for background processes `start_process`, `process_output`, `stop_process`
 * and `list_processes` (a started process is detached: it keeps running between calls until
 * `stop_process`), built from core's tool specs with `tool()` from `@langchain/core/tools`. Use them
 * with `createAgent`, a LangGraph `ToolNode`, or `model.bindTools(tools)` on any chat model.
 * Arguments are checked with the tools' zod schemas (`ToolInputParsingException` on a mismatch).
 * Invoked with a tool call, a tool returns a ToolMessage: `content` is compact text for the model,
 * `artifact` core's structured result. A failure the model can fix (a missing file, an ambiguous
 * edit) is a ToolMessage with `status: "error"`; an infrastructure failure (the VM is gone)
 * rejects with core's `SandboxError`. An abort `signal` in the run config kills a running command.
 * Throws `SandboxError` (`invalid_argument`) for bad options.
 *
 * @example
 * const agent = createAgent({
 *   model: "anthropic:claude-sonnet-4-5",
 *   tools: createExeDevTools(sandbox, { cwd: `${sandbox.homeDir}/project` }),
 * });
 */
export function createExeDevTools(sandbox: Sandbox, options: ExeDevToolsOptions = {}): ExeDevTool[] {
  checkOptions(options);
  const wanted = new Set<string>(options.tools ?? toolSpecs.map((spec) => spec.name));
  return toolSpecs
    .filter((spec) => wanted.has(spec.name) || wanted.has(spec.snakeName))
    .map((spec) => toLangChainTool(spec, sandbox, options));
}

function toLangChainTool(spec: AnyToolSpec, sandbox: Sandbox, options: ExeDevToolsOptions): ExeDevTool {
  const run = async (
    input: unknown,
    config?: ToolRunnableConfig,
  ): Promise<[string | ToolMessage, ToolResult]> => {
    // LangChain has parsed `input` with the schema before it calls this.
    const result = await spec.run(sandbox, input, {
      signal: config?.signal,
      cwd: options.cwd,
      defaultTimeoutMs: options.defaultTimeoutMs,
      maxOutputChars: options.maxOutputChars,
    });
    const id = config?.toolCall?.id;
    if (result.ok || !id) return [result.text, result];
    // A ToolMessage passes through as it is, so a fixable failure can be flagged as an error
    // (providers tell the model, e.g. Anthropic's is_error) while the loop goes on.
    const message = new ToolMessage({
      content: result.text,
      artifact: result,
      status: "error",
      tool_call_id: id,
      name: spec.snakeName,
    });
    return [message, result];
  };
  // Core's descriptions name other tools canonically ("use editFile instead"); here they are snake_case.
  const description = toolSpecs.reduce(
    (text, other) => text.replace(new RegExp(`\\b${other.name}\\b`, "g"), other.snakeName),
    spec.description,
  );
  return tool(run, {
    name: spec.snakeName,
    description,
    // Core's schemas are zod 4 objects, typed by what they parse to (one has a refinement).
    schema: spec.inputSchema as unknown as InteropZodObject,
    responseFormat: "content_and_artifact",
  }) as ExeDevTool;
}
