import { z } from "zod";
import type { ProcessInfo } from "../sandbox.js";
import { checkedTool } from "./checked-tool.js";
import { errorResult, type ToolSpec } from "./tool-spec.js";

/** Most entries shown to the model; the newest are kept. */
const MAX_LISTED = 100;

/** Input of the `listProcesses` tool (none). */
export type ListProcessesToolInput = Record<string, never>;

const inputSchema: z.ZodType<ListProcessesToolInput> = z.object(
  {},
) as unknown as z.ZodType<ListProcessesToolInput>;

/** One listed process. */
export interface ListedProcess {
  id: string;
  pid: number;
  command: string;
  running: boolean;
  exitCode: number | undefined;
  startedAt: string;
}

/** Structured output of the `listProcesses` tool. */
export interface ListProcessesToolOutput {
  processes: ListedProcess[];
}

function line(info: ProcessInfo): string {
  const state = info.running ? "running" : `exited ${info.exitCode ?? "?"}`;
  const command = info.command.length > 200 ? `${info.command.slice(0, 200)}…` : info.command;
  return `${info.id}  pid ${info.pid}  ${state}  started ${info.startedAt.toISOString()}  ${command}`;
}

/** Lists the background processes on the machine: running ones and those that ended recently. */
export const listProcessesTool: ToolSpec<ListProcessesToolInput, ListProcessesToolOutput> = checkedTool<
  ListProcessesToolInput,
  ListProcessesToolOutput
>({
  name: "listProcesses",
  snakeName: "list_processes",
  description:
    "List the background processes on the sandbox machine (started with startProcess, also by earlier " +
    "sessions): id, pid, running or exit code, start time and command. Ended ones stay listed for about an hour.",
  inputSchema,
  async run(sandbox) {
    let infos: ProcessInfo[];
    try {
      infos = await sandbox.listProcesses();
    } catch (error) {
      return errorResult(error);
    }
    const newest = [...infos]
      .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime())
      .slice(0, MAX_LISTED);
    const processes = newest.map((info) => ({
      id: info.id,
      pid: info.pid,
      command: info.command,
      running: info.running,
      exitCode: info.exitCode,
      startedAt: info.startedAt.toISOString(),
    }));
    const lines = newest.map(line);
    if (infos.length > newest.length) lines.push(`[${infos.length - newest.length} older entries not shown]`);
    return {
      ok: true,
      text: lines.length > 0 ? lines.join("\n") : "No background processes.",
      processes,
    };
  },
});
