// A TCP hop in front of a real sshd that can vanish at once, so a "machine gone" test controls
// exactly when the path to the machine disappears (stopping sshd leaves open sessions alive).
import { type AddressInfo, connect, createServer, type Socket } from "node:net";

/** A running forwarder. */
export interface Forwarder {
  host: string;
  port: number;
  /**
   * Stops listening and drops every connection, both before its first `await`: from the moment
   * it is called nothing can reach the target any more. Resolves once the listener is closed.
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
    },
  };
}
