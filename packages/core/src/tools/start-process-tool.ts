import { z } from "zod";
import { isSandboxError } from "../errors.js";
import type { SandboxProcess } from "../sandbox.js";
import { checkedTool } from "./checked-tool.js";
import { abortedError, type TrackedProcess, track } from "./process-tool-state.js";
import { describeProcess, type ProcessToolOutput } from "./process-tool-text.js";
import { errorResult, resolveToolPath, type ToolSpec } from "./tool-spec.js";

/** How long `start_process` collects first output when it waits for nothing in particular. */
const FIRST_OUTPUT_MS = 1_000;
/** How long it waits for `waitForPort` / `waitForText` when the model gives no `waitMs`. */
const READY_WAIT_MS = 30_000;

/** Input of the `startProcess` tool. */
export interface StartProcessToolInput {
  command: string;
  cwd?: string | undefined;
  waitForPort?: number | undefined;
  waitForText?: string | undefined;
  waitMs?: number | undefined;
  timeoutMs?: number | undefined;
}

const inputSchema: z.ZodType<StartProcessToolInput> = z.object({
  command: z
    .string()
    .min(1)
    .describe(
      "The shell command to start (bash syntax), e.g. `npm run dev` or `python3 -m http.server 8000`.",
    ),
  cwd: z
    .string()
    .optional()
    .describe("Directory to run in; relative to the working directory. Defaults to it."),
  waitForPort: z
    .number()
    .int()
    .min(1)
    .max(65_535)
    .optional()
    .describe("Return once something on the machine accepts TCP connections on this port (for servers)."),
  waitForText: z
    .string()
    .min(1)
    .optional()
    .describe("Return once this exact text appears in the process's output, e.g. `ready` or `Listening on`."),
  waitMs: z
    .number()
    .int()
    .min(0)
    .max(600_000)
    .optional()
    .describe(
      "Longest wait before returning, in ms; the process keeps running either way. Defaults to 30000 with " +
        "waitForPort or waitForText, else 1000 (enough for the first output).",
    ),
  timeoutMs: z
    .number()
    .int()
    .positive()
    .max(86_400_000)
    .optional()
    .describe("Kill the process after this many ms (exit code 124). Defaults to no limit."),
});

/** Structured output of the `startProcess` tool. */
export interface StartProcessToolOutput extends ProcessToolOutput {
  /** Whether `waitForPort` / `waitForText` was met (true when neither was given). */
  ready: boolean;
}

/** Resolves once `port` accepts connections, with false when the process ends or time runs out first. */
async function portOpens(
  sandbox: Parameters<ToolSpec["run"]>[0],
  tracked: TrackedProcess,
  port: number,
  waitMs: number,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  let open = false;
  const probing = sandbox.waitForPort(port, { timeoutMs: Math.max(1, waitMs), signal: stop.signal }).then(
    () => {
      open = true;
    },
    (error: unknown) => {
      if (isSandboxError(error, "timeout") || isSandboxError(error, "aborted")) return;
      throw error;
    },
  );
  try {
    // Ends at the first of: the port opens, the process exits, the deadline, the caller's abort.
    let probeDone = false;
    const finished = probing.finally(() => {
      probeDone = true;
      tracked.wake();
    });
    await Promise.race([finished, tracked.until(() => probeDone, waitMs, signal)]);
    stop.abort();
    await finished;
    if (signal?.aborted) throw abortedError();
    return open;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Starts a background process (a dev server, a watcher, a long build) and returns its id with
 * its first output. The process is spawned `detached`: it keeps running between tool calls, and
 * when the sandbox object closes, until `stop_process`, its `timeoutMs` or the VM's end. Read
 * later output with `process_output`.
 */
export const startProcessTool: ToolSpec<StartProcessToolInput, StartProcessToolOutput> = checkedTool<
  StartProcessToolInput,
  StartProcessToolOutput
>({
  name: "startProcess",
  snakeName: "start_process",
  description:
    "Start a long-running command in the background on the sandbox machine (a dev server, a file watcher, a " +
    "long build or test run) and get its id and first output without waiting for it to finish. It keeps " +
    "running between tool calls: a server started here is reachable from bash (e.g. curl localhost:PORT). " +
    "For a server, set waitForPort to return once it accepts connections. Use processOutput with the id to " +
    "read new output or wait for it to exit, and stopProcess to end it. For commands that finish quickly, " +
    "use bash instead.",
  inputSchema,
  async run(sandbox, input, context = {}) {
    const waitsForSomething = input.waitForPort !== undefined || input.waitForText !== undefined;
    const waitMs = input.waitMs ?? (waitsForSomething ? READY_WAIT_MS : FIRST_OUTPUT_MS);
    const signal = context.signal;
    let process: SandboxProcess;
    try {
      process = await sandbox.spawn(input.command, {
        cwd: input.cwd === undefined ? context.cwd : resolveToolPath(sandbox, input.cwd, context),
        detached: true,
        timeoutMs: input.timeoutMs,
        signal,
      });
    } catch (error) {
      return errorResult(error);
    }
    const tracked = track(sandbox, process);
    let ready = true;
    try {
      const text = input.waitForText;
      let textSeen = text === undefined;
      if (input.waitForPort !== undefined) {
        ready = await portOpens(sandbox, tracked, input.waitForPort, waitMs, signal);
      }
      if (text !== undefined && (ready || input.waitForPort === undefined)) {
        // The text may already be in the output collected while waiting for the port.
        textSeen = await tracked.until(() => tracked.unreadIncludes(text), waitMs, signal);
        ready = textSeen;
      }
      if (!waitsForSomething) await tracked.until(() => false, waitMs, signal);
    } catch (error) {
      // Nobody got the id of a process whose start was cancelled: do not leave it running.
      if (signal?.aborted) await process.kill().catch(() => {});
      throw error;
    }
    const exit = tracked.exited;
    const waited = [
      input.waitForPort !== undefined ? `port ${input.waitForPort} to open` : undefined,
      input.waitForText !== undefined ? `"${input.waitForText}" in its output` : undefined,
    ]
      .filter(Boolean)
      .join(" and ");
    const headline =
      exit !== undefined
        ? `The process exited${waitsForSomething && !ready ? ` before ${waited}` : ""}.`
        : !ready
          ? `Started in the background; still waiting for ${waited} after ${waitMs} ms (it is running).`
          : waitsForSomething
            ? `Started in the background and ready (${waited}).`
            : "Started in the background.";
    const described = describeProcess(headline, process, exit, tracked.take(), context);
    return { ok: true, ...described, ready: waitsForSomething ? ready && exit === undefined : true };
  },
});
