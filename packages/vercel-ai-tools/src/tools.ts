import {
  type AnyToolSpec,
  type Sandbox,
  type ToolName,
  type ToolResult,
  toolSpecs,
} from "@exedev-sandbox/core";
import { type ToolSet, tool } from "ai";

/** Options for {@link createExeDevTools}. */
export interface ExeDevToolsOptions {
  /** Which tools to include. @default all: bash, readFile, writeFile, editFile, listFiles */
  tools?: readonly ToolName[];
  /** Directory that relative paths and commands start from. @default the sandbox's home directory */
  cwd?: string;
  /** Deadline for `bash` when the model gives none, in ms. @default 120000 */
  defaultTimeoutMs?: number;
  /** Longest text a tool returns to the model, in characters. @default 30000 */
  maxOutputChars?: number;
}

/**
 * AI SDK tools that work on an exe.dev sandbox: `bash`, `readFile`, `writeFile`, `editFile` and
 * `listFiles`, for `generateText`, `streamText` and agents. The model reads a compact text
 * result; a failure it can fix (missing file, ambiguous edit) comes back as an error result and
 * the loop goes on. The SDK's `abortSignal` kills a running command.
 *
 * @example
 * const result = await generateText({ model, tools: createExeDevTools(sandbox), stopWhen: stepCountIs(10), prompt });
 */
export function createExeDevTools(sandbox: Sandbox, options: ExeDevToolsOptions = {}): ToolSet {
  const wanted = new Set<string>(options.tools ?? toolSpecs.map((spec) => spec.name));
  const tools: ToolSet = {};
  for (const spec of toolSpecs) {
    if (wanted.has(spec.name)) tools[spec.name] = toAiTool(spec, sandbox, options);
  }
  return tools;
}

function toAiTool(spec: AnyToolSpec, sandbox: Sandbox, options: ExeDevToolsOptions): ToolSet[string] {
  return tool({
    description: spec.description,
    inputSchema: spec.inputSchema,
    execute: (input: unknown, { abortSignal }: { abortSignal?: AbortSignal }): Promise<ToolResult> =>
      spec.run(sandbox, input, {
        signal: abortSignal,
        cwd: options.cwd,
        defaultTimeoutMs: options.defaultTimeoutMs,
        maxOutputChars: options.maxOutputChars,
      }),
    // The model sees the compact text; programs still get the structured result.
    toModelOutput: ({ output }: { output: ToolResult }) =>
      output.ok ? { type: "text", value: output.text } : { type: "error-text", value: output.text },
  });
}
