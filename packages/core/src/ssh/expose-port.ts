import { connect, type Socket } from "node:net";
import type { Client, ClientChannel } from "ssh2";
import { SandboxError } from "../errors.js";
import { carry } from "./carry.js";
import type { CheckedExpose } from "./forward-options.js";
import { abortedError } from "./semaphore.js";

/** Asks the server to listen on its loopback `port` (0: any); resolves with the bound port. */
export function requestRemoteForward(client: Client, port: number, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(signal));
      return;
    }
    const onAbort = (): void => reject(abortedError(signal));
    signal?.addEventListener("abort", onAbort, { once: true });
    client.forwardIn("127.0.0.1", port, (error, bound) => {
      signal?.removeEventListener("abort", onAbort);
      if (error) {
        reject(
          new SandboxError(
            "unsupported",
            `The server refused to listen on its port ${port} for a remote forward (taken, privileged, or forwarding disabled: AllowTcpForwarding).`,
            { cause: error, details: { remotePort: port } },
          ),
        );
      } else resolve(bound || port);
    });
  });
}

/** Tells the server to stop listening on `port`; never rejects (the connection may be gone). */
export function cancelRemoteForward(client: Client, port: number): Promise<void> {
  return new Promise((resolve) => {
    try {
      client.unforwardIn("127.0.0.1", port, () => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * One exposed local port: carries each connection the server forwards to it to the local
 * service, and remembers what it carries so `close()` can end it.
 */
export class ExposedLocalPort {
  readonly #sockets = new Set<Socket>();
  #closed = false;

  constructor(
    readonly checked: CheckedExpose,
    public remotePort: number,
    private readonly hold: () => () => void,
  ) {}

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Takes one forwarded channel: dials the local service, then pipes the two together. */
  take(accept: () => ClientChannel, reject: () => void): void {
    if (this.#closed) {
      reject();
      return;
    }
    const socket = connect({ host: this.checked.localHost, port: this.checked.localPort, noDelay: true });
    this.#sockets.add(socket);
    const release = this.hold();
    socket.once("close", () => {
      this.#sockets.delete(socket);
      release();
    });
    socket.once("error", () => {
      // Refused before the channel was taken: the VM's client sees the open fail, as with sshd.
      if (socket.connecting) reject();
      socket.destroy();
    });
    socket.once("connect", () => {
      if (this.#closed) {
        reject();
        socket.destroy();
        return;
      }
      carry(socket, accept());
    });
  }

  /** Drops what it carries; the caller cancels the forward on the server. */
  close(): void {
    this.#closed = true;
    for (const socket of this.#sockets) socket.destroy();
  }
}
