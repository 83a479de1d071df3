// A TCP hop in front of a real server whose path can be cut, frozen or closed at once, so a fault
// test controls exactly when, and how, the path to the machine fails (stopping sshd leaves open
// sessions alive; SIGSTOP freezes the server, not the network).
import { type AddressInfo, connect, createServer, type Socket } from "node:net";

/** A running forwarder. */
export interface Forwarder {
  host: string;
  port: number;
  /**
   * Drops every open connection at once but keeps listening: the next connect goes through.
   * What a network blip or a NAT timeout looks like to the client.
   */
  cut(): void;
  /**
   * Stops moving bytes on every open connection (they stay open, silently, like a path whose
   * packets are lost). New connections are frozen too. Returns `thaw`, which delivers what was
   * held back and resumes.
   */
  freeze(): () => void;
  /** How many connections are open right now. */
  readonly connections: number;
  /** How many connections it has accepted since it started (a reconnect adds one). */
  readonly accepted: number;
  /**
   * Stops listening and drops every connection, both before its first `await`: from the moment
   * it is called nothing can reach the target any more. Resolves once the listener is closed.
   */
  kill(): Promise<void>;
}

/** Options of {@link startForwarder}. */
export interface ForwarderOptions {
  /**
   * Delay added to each direction, in ms: every chunk is delivered this long after it arrived,
   * in order. A `delayMs` of 10 makes a 20 ms round trip, a near region seen from a laptop; what
   * latency claims (and round-trip counts) are measured through. The TCP handshake with the
   * forwarder itself is not delayed.
   * @default 0
   */
  delayMs?: number;
}

/** Forwards every connection to `target` until killed. */
export async function startForwarder(
  target: { host: string; port: number },
  options: ForwarderOptions = {},
): Promise<Forwarder> {
  const delayMs = options.delayMs ?? 0;
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error("delayMs must be 0 or more.");
  const sockets = new Set<Socket>();
  // Bytes held back while frozen, per direction, in arrival order.
  const held: Array<{ to: Socket; chunk: Buffer }> = [];
  let frozen = false;
  let open = 0;
  let accepted = 0;
  const deliver = (to: Socket, chunk: Buffer): void => {
    if (frozen) held.push({ to, chunk });
    else if (!to.destroyed) to.write(chunk);
  };
  const relay = (from: Socket, to: Socket): void => {
    from.on("data", (chunk: Buffer) => {
      // Timers of equal delay fire in the order they were set, so bytes keep their order.
      if (delayMs > 0) setTimeout(() => deliver(to, chunk), delayMs);
      else deliver(to, chunk);
    });
  };
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    open++;
    accepted++;
    let counted = true;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        if (counted) {
          counted = false;
          open--;
        }
        // Bytes still on their way are delivered before the other side sees the close.
        const drop = (): void => {
          client.destroy();
          upstream.destroy();
        };
        if (delayMs > 0) setTimeout(drop, delayMs);
        else drop();
      });
    }
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    host: "127.0.0.1",
    port: (server.address() as AddressInfo).port,
    cut: () => {
      held.length = 0;
      for (const socket of sockets) socket.destroy();
    },
    freeze: () => {
      frozen = true;
      return () => {
        frozen = false;
        for (const { to, chunk } of held.splice(0)) if (!to.destroyed) to.write(chunk);
      };
    },
    get connections() {
      return open;
    },
    get accepted() {
      return accepted;
    },
    kill: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      held.length = 0;
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
