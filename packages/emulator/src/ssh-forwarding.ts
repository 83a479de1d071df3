import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import type { Connection, ServerChannel } from "ssh2";

// Port forwarding on the emulator's SSH gateway, as sshd does it with `AllowTcpForwarding yes`
// and `GatewayPorts no`. The emulator's VMs share the host's network, so "the VM's loopback" is
// the host's: a direct-tcpip channel dials 127.0.0.1, and a remote forward listens there.

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "0:0:0:0:0:0:0:1"]);

/** Pipes an SSH channel and a socket together; a close or an error on one ends the other. */
function join(channel: ServerChannel, socket: Socket): void {
  socket.pipe(channel);
  channel.pipe(socket);
  socket.on("error", () => channel.close());
  channel.on("error", () => socket.destroy());
  channel.once("close", () => {
    if (!socket.destroyed) socket.end();
  });
  socket.once("close", () => channel.close());
}

/**
 * Serves `direct-tcpip` (local forwards, `ssh -L`) and `tcpip-forward` (remote forwards,
 * `ssh -R`) on one logged-in connection. Only loopback destinations are dialled: the VM's own
 * ports, never a path through the emulator's host to elsewhere.
 */
export function serveForwarding(connection: Connection): void {
  const listeners = new Map<number, Server>();
  const carried = new Set<Socket>();
  const track = (socket: Socket): void => {
    carried.add(socket);
    socket.once("close", () => carried.delete(socket));
  };

  connection.on("tcpip", (accept, reject, info) => {
    if (!LOOPBACK.has(info.destIP)) {
      reject();
      return;
    }
    const socket = connect({ host: "127.0.0.1", port: info.destPort, noDelay: true });
    track(socket);
    socket.once("error", () => {
      // Refused (nothing listens): the client's channel open fails, as sshd's does.
      if (socket.connecting) reject();
      socket.destroy();
    });
    socket.once("connect", () => join(accept(), socket));
  });

  connection.on("request", (accept, reject, name, info) => {
    if (name === "cancel-tcpip-forward") {
      const server = listeners.get(info.bindPort);
      if (!server) {
        reject?.();
        return;
      }
      listeners.delete(info.bindPort);
      server.close();
      accept?.();
      return;
    }
    if (name !== "tcpip-forward") {
      reject?.();
      return;
    }
    const server = createServer({ noDelay: true }, (socket) => {
      track(socket);
      socket.on("error", () => {});
      socket.pause();
      connection.forwardOut(
        info.bindAddr,
        port,
        socket.remoteAddress ?? "127.0.0.1",
        socket.remotePort ?? 0,
        (error, channel) => {
          if (error) {
            socket.destroy();
            return;
          }
          join(channel, socket);
          socket.resume();
        },
      );
    });
    let port = info.bindPort;
    server.once("error", () => reject?.());
    server.listen({ port: info.bindPort, host: "127.0.0.1" }, () => {
      server.on("error", () => {});
      port = (server.address() as AddressInfo).port;
      listeners.set(port, server);
      accept?.(port);
    });
  });

  connection.once("close", () => {
    for (const server of listeners.values()) server.close();
    listeners.clear();
    for (const socket of carried) socket.destroy();
  });
}
