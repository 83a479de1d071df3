import { createServer, type Server, type Socket } from "node:net";
import { SandboxError } from "../errors.js";
import type { PortForward } from "../reach.js";
import { carry } from "./carry.js";
import type { CheckedForward } from "./forward-options.js";
import type { ForwardingLink } from "./forwarding-link.js";
import { abortedError } from "./semaphore.js";

function listenError(error: NodeJS.ErrnoException, port: number): SandboxError {
  if (error.code === "EADDRINUSE") {
    return new SandboxError(
      "already_exists",
      `Local port ${port} is already in use; pick another, or pass localPort 0 for a free one.`,
      { cause: error },
    );
  }
  if (error.code === "EACCES") {
    return new SandboxError(
      "permission_denied",
      `Listening on local port ${port} was refused; ports below 1024 need privileges.`,
      { cause: error },
    );
  }
  return new SandboxError(
    "io_error",
    `Listening on local port ${port} failed (${error.code ?? error.message}).`,
    { cause: error },
  );
}

function listen(server: Server, port: number, signal: AbortSignal | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      server.close();
      reject(abortedError(signal));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    server.once("error", (error: NodeJS.ErrnoException) => {
      signal?.removeEventListener("abort", onAbort);
      reject(listenError(error, port));
    });
    server.listen({ port, host: "127.0.0.1" }, () => {
      signal?.removeEventListener("abort", onAbort);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

/**
 * Opens a listener on 127.0.0.1 and carries each accepted connection to `remotePort` on the
 * VM's loopback over a direct-tcpip channel. A connection the VM refuses (nothing listens) is
 * reset at once; the listener stays, so a server that starts later is reached by the next one.
 */
export async function openPortForward(
  link: ForwardingLink,
  { remotePort, localPort, signal }: CheckedForward,
  onClosed: () => void,
): Promise<PortForward> {
  // The connection must be up first: a closed sandbox or a bad login fails here, not later on
  // the first browser request.
  await link.client(signal);
  const closing = new AbortController();
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    const release = link.hold();
    socket.on("error", () => {});
    socket.once("close", () => {
      sockets.delete(socket);
      release();
    });
    if (closing.signal.aborted) {
      socket.destroy();
      return;
    }
    socket.pause();
    link.client(closing.signal).then(
      (client) => {
        if (socket.destroyed) return;
        client.forwardOut("127.0.0.1", socket.remotePort ?? 0, "127.0.0.1", remotePort, (error, channel) => {
          if (error || socket.destroyed) {
            channel?.close();
            socket.destroy();
            return;
          }
          carry(socket, channel);
          socket.resume();
        });
      },
      () => socket.destroy(),
    );
  });
  server.on("error", () => {});
  const port = await listen(server, localPort, signal);
  // Like the sandbox's connection, an idle forward never keeps the process alive; a carried
  // connection does (held above).
  server.unref();
  let closed: Promise<void> | undefined;
  return {
    localPort: port,
    remotePort,
    url: `http://127.0.0.1:${port}/`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        onClosed();
      });
      return closed;
    },
  };
}
