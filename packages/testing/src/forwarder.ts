// A TCP hop in front of a real sshd that can vanish at once, so a "machine gone" test controls
// exactly when the path to the machine disappears (stopping sshd leaves open sessions alive).
import { type AddressInfo, connect, createServer, type Socket } from "node:net";

/** A running forwarder. */
export interface Forwarder {
  host: string;
  port: number;
  /**
   * Stops listening first, then drops every connection: nothing can reach the target any more.
   * Resolves a moment later, once clients have seen their connection close (see below).
   */
  kill(): Promise<void>;
}

/** Forwards every connection to `target` until killed. */
export async function startForwarder(target: { host: string; port: number }): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    host: "127.0.0.1",
    port: (server.address() as AddressInfo).port,
    kill: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
      // Core has a race: a call made in the instant between the socket ending and ssh2's "close"
      // event is told the connection was "re-established" (connection_failed) instead of
      // sandbox_died. A real VM is gone for longer than this; the tests wait it out.
      await new Promise((resolve) => setTimeout(resolve, 250));
    },
  };
}
