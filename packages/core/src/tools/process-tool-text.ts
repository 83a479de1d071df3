import type { TakenOutput, TrackedExit } from "./process-tool-state.js";
import { DEFAULT_MAX_OUTPUT_CHARS, type ToolRunContext, truncateMiddle } from "./tool-spec.js";

/** What the process tools return about a process's state and its new output. */
export interface ProcessToolOutput {
  /** The process's id: what `process_output` and `stop_process` take. */
  id: string;
  /** Its pid on the VM. */
  pid: number;
  /** True until it has exited. */
  running: boolean;
  /** Its exit status once it has exited (124 after its deadline, 128 + n when killed by signal n). */
  exitCode: number | undefined;
  /** True when it was killed at its `timeoutMs`. */
  timedOut: boolean;
  /** Standard output printed since the last read, cut in the middle when long. */
  stdout: string;
  /** Standard error printed since the last read, cut in the middle when long. */
  stderr: string;
  /** True when some of the new output is not shown (cut for length, or dropped unread). */
  truncated: boolean;
}

/** The structured result and the model's text for a process and the output just taken from it. */
export function describeProcess(
  headline: string,
  process: { id: string; pid: number },
  exit: TrackedExit | undefined,
  taken: TakenOutput,
  context: ToolRunContext,
): ProcessToolOutput & { text: string } {
  const maxChars = context.maxOutputChars ?? DEFAULT_MAX_OUTPUT_CHARS;
  const stdout = truncateMiddle(taken.stdout, Math.ceil(maxChars * 0.7));
  const stderr = truncateMiddle(taken.stderr, Math.floor(maxChars * 0.3));
  const state =
    exit === undefined
      ? "status: running"
      : exit.timedOut
        ? "status: exited, code 124 (killed at its timeoutMs)"
        : `status: exited, code ${exit.exitCode}`;
  const lines = [headline, `id: ${process.id} (pid ${process.pid})`, state];
  if (taken.droppedChars > 0)
    lines.push(`[${taken.droppedChars} characters of older output were dropped unread]`);
  if (stdout.text) lines.push(`stdout:\n${stdout.text}`);
  if (stderr.text) lines.push(`stderr:\n${stderr.text}`);
  if (!stdout.text && !stderr.text) lines.push("(no new output)");
  return {
    text: lines.join("\n"),
    id: process.id,
    pid: process.pid,
    running: exit === undefined,
    exitCode: exit?.exitCode,
    timedOut: exit?.timedOut ?? false,
    stdout: stdout.text,
    stderr: stderr.text,
    truncated: stdout.truncated || stderr.truncated || taken.droppedChars > 0,
  };
}
