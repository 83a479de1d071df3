import { SandboxError } from "../errors.js";
import type { ChannelOutcome, CheckedExec, ExecContext } from "../ssh/exec.js";
import { MarkerStripper, type OutputCollector } from "../ssh/output.js";
import { buildKillCommand } from "../ssh/remote-command.js";
import type { AgentSession } from "./agent-session.js";
import { type AgentTransport, AgentUnavailable, agentLostError } from "./agent-transport.js";
import { FieldReader, Reply, Request } from "./protocol.js";

/** One command for the agent: the same line, tag and collectors a channel exec would use. */
export interface AgentRun {
  line: string;
  tag: string;
  checked: CheckedExec;
  stdout: OutputCollector;
  stderr: OutputCollector;
  stop: AbortSignal;
}

/**
 * Runs a command through the agent (one frame out, its output and exit back), falling back to
 * `channels` when the agent cannot run here in `"auto"` mode. On the deadline or an abort the
 * agent kills the command's process group and, with the kill script, whatever left it.
 */
export async function runOnAgent(
  agent: AgentTransport,
  context: ExecContext,
  run: AgentRun,
  channels: () => Promise<ChannelOutcome>,
): Promise<ChannelOutcome> {
  let session: AgentSession;
  try {
    session = await agent.session(run.stop);
  } catch (error) {
    if (error instanceof AgentUnavailable && agent.fallBack(error)) return channels();
    throw error;
  }
  if (run.stop.aborted) return { exitCode: undefined }; // nothing was started
  return new Promise<ChannelOutcome>((resolve, reject) => {
    // The line prints the shell's pid marker on stderr, as on a channel; only the tag is needed
    // here (the agent put it in the shell's own environment), so the marker is just removed.
    const stripper = new MarkerStripper(
      () => {},
      (chunk) => run.stderr.push(chunk),
    );
    let id = 0;
    const onStop = (): void => {
      session.send(Request.KILL, id);
    };
    const end = (): void => {
      run.stop.removeEventListener("abort", onStop);
      stripper.end();
      run.stdout.end();
      run.stderr.end();
    };
    id = session.open({
      onFrame: (frame) => {
        if (frame.type === Reply.STDOUT) run.stdout.push(frame.payload);
        else if (frame.type === Reply.STDERR) stripper.push(frame.payload);
        else if (frame.type === Reply.EXIT || frame.type === Reply.ERR) {
          session.finish(id);
          end();
          const reader = new FieldReader(frame.payload);
          if (frame.type === Reply.ERR) {
            reader.str();
            reject(
              new SandboxError("channel_failed", `The in-VM agent refused the command: ${reader.str()}.`),
            );
            return;
          }
          const kind = reader.u32();
          const value = reader.u32();
          resolve({ exitCode: kind === 0 ? value : 128 + value });
        }
      },
      onLost: () => {
        end();
        // The agent kills what it started when its channel closes; if it died instead, the
        // command may still run: kill it by its tag (now, or once a connection is back).
        if (context.connection.isCurrent(session.client)) context.killer.kill({ tag: run.tag });
        else context.killer.owe({ tag: run.tag });
        if (run.stop.aborted) resolve({ exitCode: undefined });
        else agentLostError(context.connection, session, "exec").then(reject, reject);
      },
    });
    const hasStdin = run.checked.stdin !== undefined;
    session.send(Request.EXEC, id, [
      { str: run.line },
      { str: run.tag },
      { str: buildKillCommand([{ tag: run.tag }]) },
      { u32: hasStdin ? 1 : 0 },
    ]);
    if (hasStdin) void session.sendInput(id, run.checked.stdin as Buffer);
    if (run.stop.aborted) onStop();
    else run.stop.addEventListener("abort", onStop, { once: true });
  });
}
