import type { Client } from "ssh2";

/**
 * What port forwarding needs from a sandbox's SSH connection. Forwards ask for the live client
 * per carried connection, so a forward opened before a reconnect (or an exe.dev restart) keeps
 * working after it.
 */
export interface ForwardingLink {
  /** The live client, connecting again first when the last one was lost. */
  client(signal?: AbortSignal): Promise<Client>;
  /** Calls `listener` with each new client (after the first connect and every reconnect). */
  onConnected?(listener: (client: Client) => void): () => void;
  /** Calls `listener` when the live client is lost. */
  onLost?(listener: (client: Client) => void): () => void;
  /** Keeps the process alive while a carried connection is open; returns the release. */
  hold(): () => void;
}

/** The link of a sandbox's own connection. */
export function forwardingLinkOf(connection: {
  get(signal?: AbortSignal): Promise<Client>;
  onConnected(listener: (client: Client) => void): () => void;
  onLost(listener: (client: Client) => void): () => void;
  hold(): () => void;
}): ForwardingLink {
  return {
    client: (signal) => connection.get(signal),
    onConnected: (listener) => connection.onConnected(listener),
    onLost: (listener) => connection.onLost(listener),
    hold: () => connection.hold(),
  };
}
