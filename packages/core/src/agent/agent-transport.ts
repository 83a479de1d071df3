import type { Client } from "ssh2";
import { SandboxError } from "../errors.js";
import type { ChannelSlots } from "../ssh/channel-slots.js";
import type { SshConnection } from "../ssh/connection.js";
import { AgentSession, AgentUnavailable } from "./agent-session.js";

/**
 * How a sandbox runs commands and file operations.
 *
 * - `"agent"`: a small helper in the VM serves every operation over one SSH channel, one round
 *   trip each (see PROTOCOL.md). Fails with `unsupported` when it cannot start.
 * - `"channels"`: an SSH channel per command and SFTP for files.
 * - `"auto"`: the agent when it starts, else the channels.
 */
export type TransportChoice = "auto" | "agent" | "channels";

/** The transport a sandbox is using: see {@link TransportChoice}. */
export type Transport = "agent" | "channels";

/**
 * Keeps one agent running on the sandbox's current connection: starts it on first use, again
 * after it died or the connection was replaced. In `"auto"` mode the first time it cannot run
 * at all, the sandbox falls back to the channels for good.
 */
export class AgentTransport {
  #session: AgentSession | undefined;
  #starting: { client: Client; promise: Promise<AgentSession> } | undefined;
  #fellBack = false;
  #closed = false;

  constructor(
    readonly choice: TransportChoice,
    private readonly connection: SshConnection,
    private readonly slots: ChannelSlots,
    private readonly commandLineLimit: () => number,
  ) {}

  /** The transport in use now. */
  get transport(): Transport {
    return this.choice === "channels" || this.#fellBack ? "channels" : "agent";
  }

  /** The running session, if any (for tests and the home directory). */
  get current(): AgentSession | undefined {
    return this.#session?.alive ? this.#session : undefined;
  }

  /**
   * The session to send a request on, starting the agent when needed. Throws
   * {@link AgentUnavailable} when it cannot start (see {@link fallBack}).
   */
  async session(signal?: AbortSignal): Promise<AgentSession> {
    for (;;) {
      const client = await this.connection.get(signal);
      const session = this.#session;
      if (session?.alive && session.client === client) return session;
      if (this.#starting?.client !== client) {
        const promise = AgentSession.start(
          client,
          () => this.connection.isCurrent(client),
          this.slots,
          this.commandLineLimit(),
        );
        this.#starting = { client, promise };
        promise.then(
          (started) => {
            if (this.#starting?.promise === promise) this.#starting = undefined;
            if (this.#closed) started.close();
            else this.#session = started;
          },
          () => {
            if (this.#starting?.promise === promise) this.#starting = undefined;
          },
        );
      }
      try {
        const started = await this.#starting.promise;
        if (started.alive) return started;
      } catch (error) {
        // The connection went while the agent started: start it again on the next one.
        if (!this.connection.isCurrent(client) && !(error instanceof AgentUnavailable)) continue;
        throw error;
      }
    }
  }

  /**
   * Decides what a failure to start means for the call that hit it: in `"auto"` mode the sandbox
   * moves to the channels for good (returns true: run the call there); in `"agent"` mode the
   * call fails with `unsupported`.
   */
  fallBack(error: AgentUnavailable): true {
    if (this.choice === "auto") {
      this.#fellBack = true;
      return true;
    }
    throw new SandboxError("unsupported", `The in-VM agent could not start: ${error.message}.`, {
      cause: error,
    });
  }

  /** Ends the agent (it kills what it started). */
  close(): void {
    this.#closed = true;
    this.#session?.close();
  }
}

/**
 * The error for a request whose agent went away: the connection's loss error when the
 * connection went (it waits for the reconnect, as channel calls do), else `channel_failed`.
 */
export async function agentLostError(
  connection: SshConnection,
  session: AgentSession,
  operation: string,
): Promise<SandboxError> {
  if (!connection.isCurrent(session.client)) return await connection.lostError(operation, session.client);
  return new SandboxError("channel_failed", `The in-VM agent stopped during ${operation}.`);
}

export { AgentUnavailable };
