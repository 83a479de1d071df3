import { z } from "zod";
import { checkedTool } from "./checked-tool.js";
import { type TrackedProcess, trackedProcess } from "./process-tool-state.js";
import { describeProcess, type ProcessToolOutput } from "./process-tool-text.js";
import { errorResult, type ToolSpec } from "./tool-spec.js";

/** How long a process gets to exit after the first signal before it is killed with SIGKILL. */
const GRACE_MS = 3_000;
/** How long to wait for the exit after SIGKILL (the VM's report of it, not the kill itself). */
const KILL_WAIT_MS = 10_000;

/** Input of the `stopProcess` tool. */
export interface StopProcessToolInput {
  id: string;
  signal?: "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGKILL" | undefined;
}

const inputSchema: z.ZodType<StopProcessToolInput> = z.object({
  id: z.string().min(1).describe("The process id that startProcess (or listProcesses) gave."),
  signal: z
    .enum(["SIGTERM", "SIGINT", "SIGHUP", "SIGKILL"])
    .optional()
    .describe("The signal to send first. Defaults to SIGTERM; SIGKILL follows if it has not exited in 3 s."),
});

/** Structured output of the `stopProcess` tool. */
export type StopProcessToolOutput = ProcessToolOutput;

/** Stops a background process and its children: the signal, then SIGKILL after a grace period. */
export const stopProcessTool: ToolSpec<StopProcessToolInput, StopProcessToolOutput> = checkedTool<
  StopProcessToolInput,
  StopProcessToolOutput
>({
  name: "stopProcess",
  snakeName: "stop_process",
  description:
    "Stop a background process started with startProcess, with everything it started: it gets SIGTERM (or " +
    "the signal you pick) and, if it has not exited after 3 seconds, SIGKILL. Returns its last output and exit code.",
  inputSchema,
  async run(sandbox, input, context = {}) {
    let tracked: TrackedProcess;
    try {
      tracked = await trackedProcess(sandbox, input.id);
    } catch (error) {
      return errorResult(error);
    }
    const signal = input.signal ?? "SIGTERM";
    let headline = "The process had already exited.";
    if (tracked.exited === undefined) {
      await tracked.process.kill(signal);
      headline = `Stopped with ${signal}.`;
      const exited = () => tracked.exited !== undefined;
      if (signal !== "SIGKILL" && !(await tracked.until(exited, GRACE_MS, context.signal))) {
        await tracked.process.kill("SIGKILL");
        headline = `It did not exit within ${GRACE_MS / 1000} s of ${signal}; killed with SIGKILL.`;
      }
      if (!(await tracked.until(exited, KILL_WAIT_MS, context.signal))) {
        headline = `Sent ${signal === "SIGKILL" ? "" : `${signal} and `}SIGKILL, but it has not reported its exit yet.`;
      }
    }
    return {
      ok: true,
      ...describeProcess(headline, tracked.process, tracked.exited, tracked.take(), context),
    };
  },
});
