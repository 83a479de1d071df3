import { z } from "zod";
import { checkedTool } from "./checked-tool.js";
import {
  DEFAULT_MAX_OUTPUT_CHARS,
  errorResult,
  resolveToolPath,
  type ToolSpec,
  truncateMiddle,
} from "./tool-spec.js";

/** Output kept per stream before it is cut for the model. */
const COLLECT_BYTES = 4 * 1024 * 1024;

/** Input of the `bash` tool. */
export interface BashToolInput {
  command: string;
  cwd?: string | undefined;
  timeoutMs?: number | undefined;
}

const inputSchema: z.ZodType<BashToolInput> = z.object({
  command: z.string().min(1).describe("The shell command to run (bash syntax; pipes and && work)."),
  cwd: z
    .string()
    .optional()
    .describe("Directory to run in; relative to the working directory. Defaults to it."),
  timeoutMs: z
    .number()
    .int()
    .positive()
    .max(3_600_000)
    .optional()
    .describe("Kill the command after this many milliseconds (exit code 124)."),
});

/** Structured output of the `bash` tool. */
export interface BashToolOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  truncated: boolean;
}

/** Runs a shell command in the sandbox. A non-zero exit is a normal result, not an error. */
export const bashTool: ToolSpec<BashToolInput, BashToolOutput> = checkedTool<BashToolInput, BashToolOutput>({
  name: "bash",
  snakeName: "bash",
  description:
    "Run a shell command on the sandbox machine (a Linux VM) and get its exit code, stdout and stderr. " +
    "Use it to run programs, tests, git, package managers and file searches (grep, find). " +
    "Commands run non-interactively; long output is cut in the middle. Set timeoutMs for commands that may hang.",
  inputSchema,
  async run(sandbox, input, context = {}) {
    const maxChars = context.maxOutputChars ?? DEFAULT_MAX_OUTPUT_CHARS;
    try {
      const result = await sandbox.exec(input.command, {
        cwd: input.cwd === undefined ? context.cwd : resolveToolPath(sandbox, input.cwd, context),
        timeoutMs: input.timeoutMs ?? context.defaultTimeoutMs ?? 120_000,
        signal: context.signal,
        // Collect well past what the model sees, so the cut below keeps the tail (where errors
        // and test summaries usually are), not just the head.
        maxOutputBytes: COLLECT_BYTES,
      });
      const stdout = truncateMiddle(result.stdout, Math.ceil(maxChars * 0.7));
      const stderr = truncateMiddle(result.stderr, Math.floor(maxChars * 0.3));
      const truncated = result.truncated || stdout.truncated || stderr.truncated;
      const lines = [
        result.timedOut ? `exit code: 124 (timed out, command killed)` : `exit code: ${result.exitCode}`,
      ];
      if (stdout.text) lines.push(`stdout:\n${stdout.text}`);
      if (stderr.text) lines.push(`stderr:\n${stderr.text}`);
      if (!stdout.text && !stderr.text) lines.push("(no output)");
      if (result.truncated)
        lines.push(`[output past ${COLLECT_BYTES / 1024 / 1024} MiB per stream was dropped]`);
      return {
        ok: true,
        text: lines.join("\n"),
        exitCode: result.exitCode,
        stdout: stdout.text,
        stderr: stderr.text,
        timedOut: result.timedOut,
        truncated,
      };
    } catch (error) {
      return errorResult(error);
    }
  },
});
