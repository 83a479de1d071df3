import { z } from "zod";
import { checkedTool } from "./checked-tool.js";
import { errorResult, resolveToolPath, type ToolSpec } from "./tool-spec.js";

/** Input of the `writeFile` tool. */
export interface WriteFileToolInput {
  path: string;
  content: string;
}

const inputSchema: z.ZodType<WriteFileToolInput> = z.object({
  path: z.string().min(1).describe("File to write; relative paths start at the working directory."),
  content: z.string().describe("The complete new content of the file."),
});

/** Structured output of the `writeFile` tool. */
export interface WriteFileToolOutput {
  path: string;
  bytes: number;
}

/** Creates or replaces a file (atomically), creating missing directories. */
export const writeFileTool: ToolSpec<WriteFileToolInput, WriteFileToolOutput> = checkedTool<
  WriteFileToolInput,
  WriteFileToolOutput
>({
  name: "writeFile",
  snakeName: "write_file",
  description:
    "Create a file, or replace a file's whole content, on the sandbox machine. Missing parent directories are " +
    "created. To change part of an existing file, use editFile instead.",
  inputSchema,
  async run(sandbox, input, context = {}) {
    const path = resolveToolPath(sandbox, input.path, context);
    try {
      await sandbox.writeFile(path, input.content);
    } catch (error) {
      return errorResult(error);
    }
    const bytes = Buffer.byteLength(input.content);
    return { ok: true, text: `Wrote ${bytes} bytes to ${path}.`, path, bytes };
  },
});
