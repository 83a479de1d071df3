import type { AdapterHarness } from "./adapter-contract.ts";

/** Core's tool result as a framework hands it back, plus the text its model was shown. */
export interface ToolCallOutcome {
  /** Core's `ToolResult` (`ok`, `text`, `code` on failure, and the tool's own fields). */
  result: { ok: boolean; text: string; code?: string; [field: string]: unknown };
  /** What the model read for this call (the framework's tool message). */
  modelText: string;
}

/**
 * Makes one tool call through the framework's own entry point. `tool` is core's canonical name;
 * map it onto the framework's spelling (e.g. `read_file`).
 */
export type ToolCaller = (
  tool: "bash" | "readFile" | "writeFile",
  input: Record<string, unknown>,
  signal?: AbortSignal,
) => Promise<ToolCallOutcome>;

/**
 * The {@link AdapterHarness} of a tool-style adapter (`failures: "error-result"`) built on core's
 * tools: `bash` for commands, `readFile`, `writeFile`. A failed read resolves with the text the
 * model read; a failed write throws it.
 */
export function toolResultHarness(call: ToolCaller): AdapterHarness {
  return {
    exec: async (command, options) => {
      const input = { command, cwd: options?.cwd, timeoutMs: options?.timeoutMs };
      const { result } = await call("bash", input, options?.signal);
      return {
        exitCode: result.exitCode as number,
        stdout: result.stdout as string,
        stderr: result.stderr as string,
        errorCode: result.ok ? undefined : result.code,
      };
    },
    readFile: async (path) => {
      const { result, modelText } = await call("readFile", { path });
      return result.ok ? (result.content as string) : modelText;
    },
    writeFile: async (path, content) => {
      const { result, modelText } = await call("writeFile", { path, content });
      if (!result.ok) throw new Error(modelText);
    },
  };
}
