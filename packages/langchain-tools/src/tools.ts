import {
  type AnyToolSpec,
  type Sandbox,
  type ToolName,
  type ToolResult,
  toolSpecs,
} from "@exedev-sandbox/core";
import { type StructuredToolInterface, tool } from "@langchain/core/tools";

/** Options for {@link createExeDevTools}. */
export interface ExeDevToolsOptions {
  /** Which tools to include, by core's canonical names. @default all: bash, readFile, writeFile, editFile, listFiles */
  tools?: readonly ToolName[];
  /** Directory that relative paths and commands start from. @default the sandbox's home directory */
  cwd?: string;
  /** Deadline for `bash` when the model gives none, in ms. @default 120000 */
  defaultTimeoutMs?: number;
  /** Longest text a tool returns to the model, in characters. @default 30000 */
  maxOutputChars?: number;
}

/**
 * LangChain structured tools on an exe.dev sandbox: `bash`, `read_file`, `write_file`,
 * `edit_file` and `list_files`, for `createAgent`, LangGraph, or `model.bindTools(tools)`.
 * Arguments are validated by the tools' zod schemas. The model reads a compact text result (the
 * ToolMessage `content`); the structured result is the message's `artifact`. A failure the model
 * can fix comes back as text; an aborted run (`signal` in the run config) kills the command.
 *
 * @example
 * const tools = createExeDevTools(sandbox);
 * const agent = createAgent({ model: "anthropic:claude-sonnet-4-5", tools });
 */
export function createExeDevTools(
  sandbox: Sandbox,
  options: ExeDevToolsOptions = {},
): StructuredToolInterface[] {
  const wanted = new Set<string>(options.tools ?? toolSpecs.map((spec) => spec.name));
  return toolSpecs
    .filter((spec) => wanted.has(spec.name))
    .map((spec) => toLangChainTool(spec, sandbox, options));
}

function toLangChainTool(
  spec: AnyToolSpec,
  sandbox: Sandbox,
  options: ExeDevToolsOptions,
): StructuredToolInterface {
  return tool(
    async (input: unknown, config?: { signal?: AbortSignal }): Promise<[string, ToolResult]> => {
      const result = await spec.run(sandbox, input, {
        signal: config?.signal,
        cwd: options.cwd,
        defaultTimeoutMs: options.defaultTimeoutMs,
        maxOutputChars: options.maxOutputChars,
      });
      return [result.text, result];
    },
    {
      name: spec.snakeName,
      description: spec.description,
      schema: spec.inputSchema as never,
      responseFormat: "content_and_artifact",
    },
  ) as unknown as StructuredToolInterface;
}
