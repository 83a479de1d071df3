import { z } from "zod";
import { checkedTool } from "./checked-tool.js";
import { errorResult, resolveToolPath, type ToolSpec, toolError } from "./tool-spec.js";

/** Input of the `editFile` tool. */
export interface EditFileToolInput {
  path: string;
  oldString: string;
  newString: string;
  replaceAll?: boolean | undefined;
}

const inputSchema: z.ZodType<EditFileToolInput> = z.object({
  path: z.string().min(1).describe("File to edit; relative paths start at the working directory."),
  oldString: z
    .string()
    .min(1)
    .describe("The exact text to replace, including whitespace; it must appear exactly once."),
  newString: z.string().describe("The text to put in its place."),
  replaceAll: z.boolean().optional().describe("Replace every occurrence instead of requiring exactly one."),
});

/** Structured output of the `editFile` tool. */
export interface EditFileToolOutput {
  path: string;
  replacements: number;
}

function countOccurrences(haystack: string, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length))
    count++;
  return count;
}

/** Replaces an exact string in a file, failing clearly when it is missing or ambiguous. */
export const editFileTool: ToolSpec<EditFileToolInput, EditFileToolOutput> = checkedTool<
  EditFileToolInput,
  EditFileToolOutput
>({
  name: "editFile",
  snakeName: "edit_file",
  description:
    "Edit a file on the sandbox machine by replacing an exact piece of text (oldString) with newString. " +
    "oldString must match the file exactly, whitespace included, and appear once; include surrounding lines " +
    "to make it unique, or set replaceAll. Read the file first if you are unsure of its content.",
  inputSchema,
  async run(sandbox, input, context = {}) {
    const path = resolveToolPath(sandbox, input.path, context);
    if (input.oldString === input.newString)
      return toolError("oldString and newString are the same; nothing to change.");
    try {
      const content = await sandbox.readFile(path);
      const count = countOccurrences(content, input.oldString);
      if (count === 0)
        return toolError(`oldString was not found in ${path}. Read the file and copy the text exactly.`);
      if (count > 1 && !input.replaceAll) {
        return toolError(
          `oldString appears ${count} times in ${path}; add surrounding lines to make it unique, or set replaceAll.`,
        );
      }
      const updated = input.replaceAll
        ? content.split(input.oldString).join(input.newString)
        : content.replace(input.oldString, () => input.newString);
      await sandbox.writeFile(path, updated);
      const replacements = input.replaceAll ? count : 1;
      return {
        ok: true,
        text: `Replaced ${replacements} occurrence${replacements === 1 ? "" : "s"} in ${path}.`,
        path,
        replacements,
      };
    } catch (error) {
      return errorResult(error);
    }
  },
});
