import type { Client, TcpConnectionDetails } from "ssh2";
import type {
  ExposedPort,
  ExposeLocalPortOptions,
  ForwardPortOptions,
  PortForward,
  PortForwarding,
} from "../reach.js";
import { closedError } from "./connection.js";
import { cancelRemoteForward, ExposedLocalPort, requestRemoteForward } from "./expose-port.js";
import { checkExpose, checkForward } from "./forward-options.js";
import { openPortForward } from "./forward-port.js";
import type { ForwardingLink } from "./forwarding-link.js";

/**
 * A sandbox's port forwards, both directions. Local forwards ask the link for the live client
 * per connection; remote forwards are asked for again on every reconnect (the server forgets
 * them with the connection), and a lost connection with remote forwards is reconnected at once
 * so the VM's side does not stay dark until the next call.
 */
export class PortForwards implements PortForwarding {
  readonly #forwards = new Set<PortForward>();
  readonly #exposed = new Map<number, ExposedLocalPort>();
  readonly #clients = new WeakSet<Client>();
  #closed = false;
  readonly #stop: Array<() => void> = [];

  constructor(private readonly link: ForwardingLink) {
    if (link.onConnected) this.#stop.push(link.onConnected((client) => this.#reforward(client)));
    if (link.onLost) {
      this.#stop.push(
        link.onLost(() => {
          if (this.#exposed.size === 0 || this.#closed) return;
          setTimeout(() => void this.link.client().catch(() => {}), 0);
        }),
      );
    }
  }

  async forwardPort(remotePort: number, options?: ForwardPortOptions): Promise<PortForward> {
    const checked = checkForward(remotePort, options);
    if (this.#closed) throw closedError();
    let forward: PortForward | undefined;
    forward = await openPortForward(this.link, checked, () => {
      if (forward) this.#forwards.delete(forward);
    });
    if (this.#closed) {
      await forward.close();
      throw closedError();
    }
    this.#forwards.add(forward);
    return forward;
  }

  async exposeLocalPort(localPort: number, options?: ExposeLocalPortOptions): Promise<ExposedPort> {
    const checked = checkExpose(localPort, options);
    if (this.#closed) throw closedError();
    const client = await this.link.client(checked.signal);
    this.#dispatch(client);
    const remotePort = await requestRemoteForward(client, checked.remotePort, checked.signal);
    const exposed = new ExposedLocalPort(checked, remotePort, () => this.link.hold());
    this.#exposed.set(remotePort, exposed);
    let closing: Promise<void> | undefined;
    return {
      localPort: checked.localPort,
      remotePort,
      close: () => {
        closing ??= (async () => {
          exposed.close();
          if (this.#exposed.get(remotePort) === exposed) this.#exposed.delete(remotePort);
          const live = await this.link.client().catch(() => undefined);
          if (live) await cancelRemoteForward(live, remotePort);
        })();
        return closing;
      },
    };
  }

  /** Closes every forward; later calls reject with `closed`. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const stop of this.#stop.splice(0)) stop();
    const forwards = [...this.#forwards];
    this.#forwards.clear();
    for (const exposed of this.#exposed.values()) exposed.close();
    this.#exposed.clear();
    await Promise.all(forwards.map((forward) => forward.close()));
  }

  /** Routes the client's forwarded connections to the exposed port they were made for. */
  #dispatch(client: Client): void {
    if (this.#clients.has(client)) return;
    this.#clients.add(client);
    client.on("tcp connection", (details: TcpConnectionDetails, accept, reject) => {
      const exposed = this.#exposed.get(details.destPort);
      if (exposed) exposed.take(accept, reject);
      else reject();
    });
  }

  /** After a reconnect: asks the new server connection for every remote forward again. */
  #reforward(client: Client): void {
    if (this.#exposed.size === 0 || this.#closed) return;
    this.#dispatch(client);
    for (const [port, exposed] of this.#exposed) {
      // The same port as before, so what the VM was told still works; a refusal (taken
      // meanwhile) leaves that one dark until it is exposed again.
      requestRemoteForward(client, port).catch(() => {
        if (this.#exposed.get(port) === exposed) exposed.close();
      });
    }
  }
}
