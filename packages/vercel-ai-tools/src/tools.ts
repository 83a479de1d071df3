import {
  type AnyToolSpec,
  type BashToolInput,
  type BashToolOutput,
  type EditFileToolInput,
  type EditFileToolOutput,
  type ListFilesToolInput,
  type ListFilesToolOutput,
  type ListProcessesToolInput,
  type ListProcessesToolOutput,
  type PreviewUrlToolInput,
  type PreviewUrlToolOutput,
  type ProcessOutputToolInput,
  type ProcessOutputToolOutput,
  type ReadFileToolInput,
  type ReadFileToolOutput,
  type Sandbox,
  SandboxError,
  type StartProcessToolInput,
  type StartProcessToolOutput,
  type StopProcessToolInput,
  type StopProcessToolOutput,
  type ToolName,
  type ToolResult,
  toolSpecs,
  type WriteFileToolInput,
  type WriteFileToolOutput,
} from "@exedev-sandbox/core";
import { type Tool, tool } from "ai";

/** Options for {@link createExeDevTools}. */
export interface ExeDevToolsOptions<Name extends ToolName = ToolName> {
  /** Which tools to offer, by core's canonical names, e.g. `["readFile", "listFiles"]` for a read-only agent. @default all: bash, readFile, writeFile, editFile, listFiles, startProcess, processOutput, stopProcess, listProcesses, previewUrl */
  tools?: readonly Name[];
  /** Absolute directory that relative paths and commands start from. It must exist (`writeFile` creates parents, `bash` does not). @default the sandbox's home directory */
  cwd?: string;
  /** Deadline for `bash` when the model gives none, in ms; the command is then killed (exit 124). @default 120000 */
  defaultTimeoutMs?: number;
  /** Longest text a tool returns to the model, in characters; the middle of longer output is cut with a marker. @default 30000 */
  maxOutputChars?: number;
}

/** An AI SDK tool on an exe.dev sandbox. `execute` is always present, as with `tool({ execute })`. */
export type ExeDevTool<Input, Output extends object> = Tool<Input, ToolResult<Output>> & {
  execute: NonNullable<Tool<Input, ToolResult<Output>>["execute"]>;
};

/**
 * Every tool {@link createExeDevTools} can offer, by name, with its input and result types, so
 * `result.steps[n].toolResults[n].output` is typed. A type alias, not an interface, so it stays
 * assignable to the SDK's `ToolSet`.
 */
export type ExeDevToolSet = {
  /** Runs a shell command; a non-zero exit is a normal result. */
  bash: ExeDevTool<BashToolInput, BashToolOutput>;
  /** Reads a text file, or a range of its lines. */
  readFile: ExeDevTool<ReadFileToolInput, ReadFileToolOutput>;
  /** Creates or replaces a file, creating missing directories. */
  writeFile: ExeDevTool<WriteFileToolInput, WriteFileToolOutput>;
  /** Replaces an exact string in a file. */
  editFile: ExeDevTool<EditFileToolInput, EditFileToolOutput>;
  /** Lists a directory tree. */
  listFiles: ExeDevTool<ListFilesToolInput, ListFilesToolOutput>;
  /** Starts a background process (detached: it outlives the call) and returns its id and first output. */
  startProcess: ExeDevTool<StartProcessToolInput, StartProcessToolOutput>;
  /** A background process's output since the last read, and its exit once it ended. */
  processOutput: ExeDevTool<ProcessOutputToolInput, ProcessOutputToolOutput>;
  /** Stops a background process: SIGTERM, then SIGKILL after 3 s. */
  stopProcess: ExeDevTool<StopProcessToolInput, StopProcessToolOutput>;
  /** Lists background processes, running and recently ended. */
  listProcesses: ExeDevTool<ListProcessesToolInput, ListProcessesToolOutput>;
  /** The public URL of a port, and whether a server answers there yet. */
  previewUrl: ExeDevTool<PreviewUrlToolInput, PreviewUrlToolOutput>;
};

const TOOL_NAMES: ReadonlySet<string> = new Set(toolSpecs.map((spec) => spec.name));

function invalidOption(field: string, message: string): SandboxError {
  return new SandboxError("invalid_argument", `createExeDevTools: ${message}`, { details: { field } });
}

function checkOptions(options: ExeDevToolsOptions<ToolName>): void {
  for (const name of options.tools ?? []) {
    if (!TOOL_NAMES.has(name)) {
      throw invalidOption("tools", `unknown tool "${name}"; pick from ${[...TOOL_NAMES].join(", ")}.`);
    }
  }
  if (options.cwd !== undefined && !options.cwd.startsWith("/")) {
    throw invalidOption("cwd", `cwd must be an absolute path, e.g. \`\${sandbox.homeDir}/project\`.`);
  }
  for (const field of ["defaultTimeoutMs", "maxOutputChars"] as const) {
    const value = options[field];
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw invalidOption(field, `${field} must be a positive integer.`);
    }
  }
}

/**
 * AI SDK tools that work on an exe.dev sandbox: `bash`, `readFile`, `writeFile`, `editFile`,
 * `listFiles`, and for background processes `startProcess`, `processOutput`, `stopProcess` and
 * `listProcesses`, for `generateText`, `streamText` and agents. A process the model starts is
 * detached: it keeps running between steps and after the sandbox closes, until `stopProcess`.
 * The model reads a compact text result; a failure it can fix (a missing file, an ambiguous edit) reaches it as readable error
 * text and the loop goes on, while programs get the structured result in `steps[].toolResults`.
 * The SDK's `abortSignal` kills a running command. Throws `SandboxError` (`invalid_argument`)
 * for bad options.
 *
 * @example
 * const result = await generateText({
 *   model,
 *   tools: createExeDevTools(sandbox, { cwd: `${sandbox.homeDir}/project` }),
 *   stopWhen: stepCountIs(20),
 *   prompt: "Run the tests and fix what fails.",
 * });
 */
export function createExeDevTools<const Name extends ToolName = ToolName>(
  sandbox: Sandbox,
  options: ExeDevToolsOptions<Name> = {},
): Pick<ExeDevToolSet, Name> {
  checkOptions(options);
  const wanted = new Set<string>(options.tools ?? [...TOOL_NAMES]);
  const tools: Record<string, Tool> = {};
  for (const spec of toolSpecs) {
    if (wanted.has(spec.name)) tools[spec.name] = toAiTool(spec, sandbox, options);
  }
  return tools as Pick<ExeDevToolSet, Name>;
}

function toAiTool(spec: AnyToolSpec, sandbox: Sandbox, options: ExeDevToolsOptions<ToolName>): Tool {
  return tool({
    description: spec.description,
    inputSchema: spec.inputSchema,
    // The SDK has parsed `input` with `inputSchema` before it calls this.
    execute: (input: unknown, { abortSignal }: { abortSignal?: AbortSignal }): Promise<ToolResult> =>
      spec.run(sandbox, input, {
        signal: abortSignal,
        cwd: options.cwd,
        defaultTimeoutMs: options.defaultTimeoutMs,
        maxOutputChars: options.maxOutputChars,
      }),
    // The model reads only the compact text. `error-text` lets providers flag the result as an
    // error (Anthropic's is_error) while the loop goes on, so the model can correct itself.
    toModelOutput: ({ output }: { output: ToolResult }) =>
      output.ok ? { type: "text", value: output.text } : { type: "error-text", value: output.text },
  });
}
