import { z } from "zod";
import { checkedTool } from "./checked-tool.js";
import {
  DEFAULT_MAX_OUTPUT_CHARS,
  errorResult,
  resolveToolPath,
  type ToolSpec,
  toolError,
  truncateMiddle,
} from "./tool-spec.js";

/** Input of the `readFile` tool. */
export interface ReadFileToolInput {
  path: string;
  startLine?: number | undefined;
  endLine?: number | undefined;
}

const inputSchema: z.ZodType<ReadFileToolInput> = z
  .object({
    path: z.string().min(1).describe("File to read; relative paths start at the working directory."),
    startLine: z.number().int().min(1).optional().describe("First line to return (1-based). Defaults to 1."),
    endLine: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("Last line to return (inclusive). Defaults to the end."),
  })
  .refine(
    (input) =>
      input.endLine === undefined || input.startLine === undefined || input.endLine >= input.startLine,
    {
      message: "endLine must not be before startLine",
    },
  );

/** Structured output of the `readFile` tool. */
export interface ReadFileToolOutput {
  path: string;
  content: string;
  startLine: number;
  endLine: number;
  totalLines: number;
  truncated: boolean;
}

/** Reads a text file, or a range of its lines. */
export const readFileTool: ToolSpec<ReadFileToolInput, ReadFileToolOutput> = checkedTool<
  ReadFileToolInput,
  ReadFileToolOutput
>({
  name: "readFile",
  snakeName: "read_file",
  description:
    "Read a text file from the sandbox machine. Returns its content; for long files pass startLine and endLine " +
    "to read a part (lines are 1-based and inclusive). Binary files are not shown.",
  inputSchema,
  async run(sandbox, input, context = {}) {
    const path = resolveToolPath(sandbox, input.path, context);
    let bytes: Uint8Array;
    try {
      bytes = await sandbox.readFileBuffer(path);
    } catch (error) {
      return errorResult(error);
    }
    if (bytes.includes(0))
      return toolError(`${path} is a binary file (${bytes.length} bytes); it is not shown.`);
    const lines = Buffer.from(bytes).toString("utf8").split("\n");
    if (lines.at(-1) === "") lines.pop(); // a final newline does not start another line
    const totalLines = lines.length;
    const startLine = input.startLine ?? 1;
    const endLine = Math.min(input.endLine ?? totalLines, totalLines);
    if (startLine > Math.max(totalLines, 1)) {
      return toolError(`${path} has ${totalLines} lines; startLine ${startLine} is past the end.`);
    }
    const selected = lines.slice(startLine - 1, endLine).join("\n");
    const { text, truncated } = truncateMiddle(selected, context.maxOutputChars ?? DEFAULT_MAX_OUTPUT_CHARS);
    const range =
      startLine === 1 && endLine === totalLines ? "" : ` (lines ${startLine}-${endLine} of ${totalLines})`;
    const hint = truncated ? "\n[file is long: pass startLine/endLine to read the cut part]" : "";
    return {
      ok: true,
      text: `${text}${hint}${range ? `\n${range.trim()}` : ""}`,
      path,
      content: text,
      startLine,
      endLine,
      totalLines,
      truncated,
    };
  },
});
