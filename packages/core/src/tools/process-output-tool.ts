import { z } from "zod";
import { checkedTool } from "./checked-tool.js";
import { type TrackedProcess, trackedProcess } from "./process-tool-state.js";
import { describeProcess, type ProcessToolOutput } from "./process-tool-text.js";
import { errorResult, type ToolSpec } from "./tool-spec.js";

/** Input of the `processOutput` tool. */
export interface ProcessOutputToolInput {
  id: string;
  waitMs?: number | undefined;
  waitForText?: string | undefined;
}

const inputSchema: z.ZodType<ProcessOutputToolInput> = z.object({
  id: z.string().min(1).describe("The process id that startProcess (or listProcesses) gave."),
  waitMs: z
    .number()
    .int()
    .min(0)
    .max(600_000)
    .optional()
    .describe(
      "Wait up to this many ms for the process to exit (or for waitForText) before returning what it printed. " +
        "Defaults to 0: return the new output at once.",
    ),
  waitForText: z
    .string()
    .min(1)
    .optional()
    .describe("With waitMs: return as soon as this exact text appears in the new output."),
});

/** Structured output of the `processOutput` tool. */
export type ProcessOutputToolOutput = ProcessToolOutput;

/** Reads what a background process printed since the last read, optionally waiting for its exit. */
export const processOutputTool: ToolSpec<ProcessOutputToolInput, ProcessOutputToolOutput> = checkedTool<
  ProcessOutputToolInput,
  ProcessOutputToolOutput
>({
  name: "processOutput",
  snakeName: "process_output",
  description:
    "Get what a background process (from startProcess) printed since the last time you read it, and whether " +
    "it is still running or exited with which code. Set waitMs to wait for it to finish (a build, a test run), " +
    "and waitForText to return early when a line you expect appears.",
  inputSchema,
  async run(sandbox, input, context = {}) {
    let tracked: TrackedProcess;
    try {
      tracked = await trackedProcess(sandbox, input.id);
    } catch (error) {
      return errorResult(error);
    }
    const text = input.waitForText;
    await tracked.until(
      () => (text === undefined ? false : tracked.unreadIncludes(text)),
      input.waitMs ?? 0,
      context.signal,
    );
    const exit = tracked.exited;
    const headline =
      exit !== undefined
        ? "The process has exited."
        : text !== undefined && tracked.unreadIncludes(text)
          ? `"${text}" appeared; the process is still running.`
          : (input.waitMs ?? 0) > 0
            ? `Still running after ${input.waitMs} ms.`
            : "Still running.";
    return { ok: true, ...describeProcess(headline, tracked.process, exit, tracked.take(), context) };
  },
});
