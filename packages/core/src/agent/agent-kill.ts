import { randomBytes } from "node:crypto";
import type { AgentTransport } from "./agent-transport.js";
import { Reply, Request } from "./protocol.js";

/**
 * Runs a kill command as an agent EXEC (resolves true once it ran), or resolves false when the
 * agent is not in use or cannot be reached, so the caller kills over a channel instead.
 */
export async function runKillOnAgent(agent: AgentTransport, command: string): Promise<boolean> {
  if (agent.transport !== "agent") return false;
  let session: Awaited<ReturnType<AgentTransport["session"]>>;
  try {
    session = await agent.session();
  } catch {
    return false;
  }
  return await new Promise<boolean>((resolve) => {
    const id = session.open({
      onFrame: (frame) => {
        if (frame.type !== Reply.EXIT && frame.type !== Reply.ERR) return;
        session.finish(id);
        resolve(frame.type === Reply.EXIT);
      },
      onLost: () => resolve(false),
    });
    // A tag of its own, so the kill command never matches the targets' tags (nor they it).
    const tag = `exedev-kill-${randomBytes(9).toString("hex")}`;
    session.send(Request.EXEC, id, [{ str: command }, { str: tag }, { str: "" }, { u32: 0 }]);
  });
}
