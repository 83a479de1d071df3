import { posix } from "node:path";
import { z } from "zod";
import type { DirEntry } from "../sandbox.js";
import { checkedTool } from "./checked-tool.js";
import { errorResult, resolveToolPath, type ToolSpec } from "./tool-spec.js";

/** Most entries listed, so a huge tree cannot flood the model. */
const MAX_ENTRIES = 500;
/** Directories never descended into: large, generated, rarely what a model wants. */
const SKIPPED = new Set([".git", "node_modules", ".venv", "__pycache__", ".cache"]);

/** Input of the `listFiles` tool. */
export interface ListFilesToolInput {
  path?: string | undefined;
  depth?: number | undefined;
}

const inputSchema: z.ZodType<ListFilesToolInput> = z.object({
  path: z
    .string()
    .optional()
    .describe("Directory to list; relative paths start at the working directory. Defaults to it."),
  depth: z
    .number()
    .int()
    .min(1)
    .max(5)
    .optional()
    .describe("How many levels to descend (1 = only this directory). Defaults to 2."),
});

/** One listed entry, with its path relative to the listed directory. */
export interface ListedFile {
  path: string;
  type: DirEntry["type"];
  size: number;
}

/** Structured output of the `listFiles` tool. */
export interface ListFilesToolOutput {
  path: string;
  entries: ListedFile[];
  truncated: boolean;
}

/** Lists a directory tree (breadth-first, bounded). */
export const listFilesTool: ToolSpec<ListFilesToolInput, ListFilesToolOutput> = checkedTool<
  ListFilesToolInput,
  ListFilesToolOutput
>({
  name: "listFiles",
  snakeName: "list_files",
  description:
    "List files and directories on the sandbox machine, descending `depth` levels (default 2). Directories end " +
    "with '/', files show their size in bytes. .git and node_modules are listed but not descended into.",
  inputSchema,
  async run(sandbox, input, context = {}) {
    const root = resolveToolPath(sandbox, input.path ?? ".", context);
    const depth = input.depth ?? 2;
    const entries: ListedFile[] = [];
    let truncated = false;
    try {
      let level = [""];
      for (let d = 0; d < depth && level.length > 0 && !truncated; d++) {
        const next: string[] = [];
        for (const relative of level) {
          for (const entry of await sandbox.readdir(relative ? posix.join(root, relative) : root)) {
            if (entries.length >= MAX_ENTRIES) {
              truncated = true;
              break;
            }
            const path = relative ? `${relative}/${entry.name}` : entry.name;
            entries.push({ path, type: entry.type, size: entry.size });
            if (entry.type === "directory" && !SKIPPED.has(entry.name)) next.push(path);
          }
          if (truncated) break;
        }
        level = next;
      }
    } catch (error) {
      return errorResult(error);
    }
    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const lines = entries.map((e) => (e.type === "directory" ? `${e.path}/` : `${e.path} (${e.size} bytes)`));
    if (truncated) lines.push(`[... stopped after ${MAX_ENTRIES} entries; list a subdirectory for more]`);
    return {
      ok: true,
      text: lines.length > 0 ? `${root}:\n${lines.join("\n")}` : `${root} is empty.`,
      path: root,
      entries,
      truncated,
    };
  },
});
