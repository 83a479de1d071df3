import { mkdirSync } from "node:fs";
import { type AddressInfo, createServer, type Server as NetServer, type Socket } from "node:net";
import { fingerprintOf } from "@exedev-sandbox/core";
import ssh2, { type AuthContext, type Connection } from "ssh2";
import type { FaultState } from "./faults.js";
import type { ProcessRunner } from "./process-runner.js";
import { fixServerSigAlgs } from "./server-sig-algs.js";
import { serveForwarding } from "./ssh-forwarding.js";
import { serveSession } from "./ssh-session.js";
import type { StateStore } from "./state-store.js";

/** Options for {@link SshGateway}. */
export interface SshGatewayOptions {
  /** The host key (OpenSSH private key). */
  hostKey: string;
  store: StateStore;
  processes: ProcessRunner;
  faults: FaultState;
}

/**
 * Resets a connection (RST, no SSH goodbye). Node never closes a socket reset after it was
 * ended (its handle leaks and keeps the process alive), so an ended one is only destroyed.
 */
function cut(socket: Socket): void {
  if (socket.writableEnded || socket.destroyed) socket.destroy();
  else socket.resetAndDestroy();
}

/**
 * sshd refuses a channel (past MaxSessions, for instance) with the description "open failed";
 * ssh2 sends an empty one. Relies on ssh2's `_protocol.channelOpenFail`; a no-op without it.
 */
function refuseLikeSshd(connection: Connection): void {
  const protocol = (
    connection as unknown as {
      _protocol?: { channelOpenFail?: (remote: number, reason: number, description?: string) => void };
    }
  )._protocol;
  const original = protocol?.channelOpenFail;
  if (!protocol || typeof original !== "function") return;
  protocol.channelOpenFail = (remote, reason, description) =>
    original.call(protocol, remote, reason, description || "open failed");
}

const peerKey = (address: string | undefined, port: number | undefined): string => `${address}|${port}`;

/**
 * The emulator's SSH server: public-key logins with registered keys, the username
 * `vm+<name>` choosing the VM (as exe.dev's gateway routes), then sessions that run in that
 * VM's workspace. ssh2 speaks the protocol; the TCP side is ours, so that connections can be
 * dropped abruptly and TCP_NODELAY set.
 */
export class SshGateway {
  private readonly ssh: InstanceType<typeof ssh2.Server>;
  private readonly tcp: NetServer;
  private readonly sockets = new Map<string, Socket>();
  private readonly socketsByVm = new Map<string, Set<Socket>>();

  constructor(private readonly options: SshGatewayOptions) {
    this.ssh = new ssh2.Server(
      // Clients choose SFTP's SYMLINK argument order by the server's name (ssh2 and asyncssh
      // look for "OpenSSH"); the emulator takes OpenSSH's order, as real VMs do, so it says so.
      { hostKeys: [options.hostKey], ident: "OpenSSH_9.2p1 exedev_emulator" },
      (connection, info) => this.accept(connection, this.sockets.get(peerKey(info.ip, info.port))),
    );
    this.ssh.on("error", () => {});
    this.tcp = createServer({ noDelay: true }, (socket) => {
      const key = peerKey(socket.remoteAddress, socket.remotePort);
      this.sockets.set(key, socket);
      socket.on("error", () => {});
      socket.once("close", () => this.sockets.delete(key));
      this.ssh.injectSocket(socket);
    });
  }

  /** Starts listening; resolves with the port. */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.tcp.once("error", reject);
      this.tcp.listen(port, host, () => {
        this.tcp.off("error", reject);
        this.tcp.on("error", () => {});
        resolve((this.tcp.address() as AddressInfo).port);
      });
    });
  }

  /** Cuts every connection at once, as a network failure would: no goodbye, just a reset. */
  dropConnections(): void {
    for (const socket of this.sockets.values()) cut(socket);
  }

  /** Cuts every connection logged in to `vm` (the VM was removed or restarted). */
  disconnect(vm: string): void {
    for (const socket of this.socketsByVm.get(vm) ?? []) cut(socket);
  }

  /** Stops listening and drops every connection. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.tcp.close(() => resolve());
      for (const socket of this.sockets.values()) socket.destroy();
    });
  }

  private accept(connection: Connection, socket: Socket | undefined): void {
    fixServerSigAlgs(connection);
    refuseLikeSshd(connection);
    connection.on("error", () => {});
    let vm: string | undefined;
    connection.on("authentication", (context) => {
      this.authenticate(context, (name) => {
        vm = name;
      });
    });
    connection.on("ready", () => {
      if (!vm || !socket) return;
      serveForwarding(connection);
      const name = vm;
      let sockets = this.socketsByVm.get(name);
      if (!sockets) {
        sockets = new Set();
        this.socketsByVm.set(name, sockets);
      }
      const set = sockets;
      set.add(socket);
      socket.once("close", () => {
        set.delete(socket);
        if (set.size === 0 && this.socketsByVm.get(name) === set) this.socketsByVm.delete(name);
      });
    });
    // sshd counts a session until its command has exited, even after the client closed it.
    let openSessions = 0;
    connection.on("session", (accept, reject) => {
      if (!vm || !this.options.store.vm(vm) || openSessions >= this.options.faults.maxSessionsPerConnection) {
        reject();
        return;
      }
      openSessions++;
      const session = accept();
      mkdirSync(this.options.store.workspace(vm), { recursive: true });
      serveSession(session, vm, this.options, () => {
        openSessions--;
      });
    });
  }

  /**
   * Accepts or rejects one authentication attempt. `onLogin` learns the VM first: ssh2 emits
   * `ready` from within `accept()`.
   */
  private authenticate(context: AuthContext, onLogin: (vm: string) => void): void {
    const vm = /^vm\+([a-z0-9-]+)$/.exec(context.username)?.[1];
    if (context.method !== "publickey" || vm === undefined || !this.options.store.vm(vm)) {
      context.reject(["publickey"]);
      return;
    }
    const key = this.options.store.keyByFingerprint(fingerprintOf(context.key.data));
    const parsed = key && ssh2.utils.parseKey(key.publicKey);
    if (!key || !parsed || parsed instanceof Error || !parsed.getPublicSSH().equals(context.key.data)) {
      context.reject(["publickey"]);
      return;
    }
    // Without a signature the client only asks whether this key would do.
    if (context.signature === undefined) {
      context.accept();
      return;
    }
    if (
      context.blob === undefined ||
      parsed.verify(context.blob, context.signature, context.hashAlgo) !== true
    ) {
      context.reject(["publickey"]);
      return;
    }
    this.options.store.touchKey(key.fingerprint);
    onLogin(vm);
    context.accept();
  }
}
