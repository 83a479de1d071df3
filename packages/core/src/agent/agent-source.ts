import { shellQuote } from "../ssh/shell-quote.js";
import source from "./agent.pl";

/** The agent's perl source, as it travels to the VM. */
export const AGENT_SOURCE: string = source;

/** How the agent is started: the command line, and bytes to write first on its stdin (if any). */
export interface AgentStart {
  line: string;
  stdinPrefix: Buffer | undefined;
}

/**
 * The command that starts the agent. The source goes in the command line when it fits the
 * server's limit: the agent then runs the moment the exec request arrives and its HELLO comes
 * back with the exec's answer, in the same round trip. Otherwise (Dropbear's 8,900 bytes) a
 * small bootstrap reads exactly the source's bytes from stdin (sysread: nothing beyond them is
 * buffered away from the agent) and evaluates it.
 */
export function agentStartCommand(commandLineLimitBytes: number): AgentStart {
  const inline = `exec perl -e ${shellQuote(AGENT_SOURCE)}`;
  if (Buffer.byteLength(inline) <= commandLineLimitBytes) return { line: inline, stdinPrefix: undefined };
  const bytes = Buffer.from(AGENT_SOURCE, "utf8");
  const bootstrap = `my ($n, $s) = (${bytes.length}, ""); while (length($s) < $n) { sysread(STDIN, $s, $n - length($s), length($s)) or exit 97 } eval $s; die $@ if $@; exit 0`;
  return { line: `exec perl -e ${shellQuote(bootstrap)}`, stdinPrefix: bytes };
}
