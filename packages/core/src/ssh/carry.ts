import type { Socket } from "node:net";
import type { ClientChannel } from "ssh2";

/**
 * Pipes a local socket and an SSH channel into each other until either side is done. Ends are
 * passed on as ends (a half-closed HTTP request still gets its answer); an error or a close on
 * one side destroys the other, so nothing is left open behind a dead peer.
 */
export function carry(socket: Socket, channel: ClientChannel): void {
  socket.pipe(channel);
  channel.pipe(socket);
  channel.on("error", () => socket.destroy());
  // The channel closes after its data was handed to the socket: end it, so what is buffered
  // is still written before the FIN.
  channel.once("close", () => {
    if (!socket.destroyed) socket.end();
  });
  socket.once("close", () => channel.close());
}
