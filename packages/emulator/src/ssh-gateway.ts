import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { AuthContext, Connection, ServerChannel } from "ssh2";
import ssh2 from "ssh2";
import type { StateStore } from "./state-store.js";
import { killGroup, type VmProcesses } from "./vm-processes.js";

/** Faults the SSH gateway can inject; read on every use, so they can change at run time. */
export interface SshFaults {
  /** Close an SFTP session after this long without traffic (like sshd's ChannelTimeout). */
  sftpIdleCloseMs?: number;
  /** Refuse session channels past this many open on one connection (like sshd's MaxSessions). */
  maxSessionsPerConnection?: number;
}

/** Where OpenSSH's SFTP server usually lives (Debian/Ubuntu, Fedora, macOS/BSD). */
const SFTP_SERVER_PATHS = [
  "/usr/lib/openssh/sftp-server",
  "/usr/libexec/openssh/sftp-server",
  "/usr/libexec/sftp-server",
  "/usr/lib/sftp-server",
];

/** The system's OpenSSH `sftp-server`, which the gateway runs for the `sftp` subsystem as sshd does. */
export function findSftpServer(): string | undefined {
  return SFTP_SERVER_PATHS.find((path) => existsSync(path));
}

function keyBlob(publicKeyLine: string): Buffer {
  return Buffer.from(publicKeyLine.trim().split(/\s+/)[1] ?? "", "base64");
}

/** The gateway: public-key auth against registered keys, `vm+<name>` routing, exec and SFTP. */
export class SshGateway {
  private readonly server: InstanceType<typeof ssh2.Server>;
  private readonly connections = new Set<Connection>();
  private readonly sftpServer = findSftpServer();

  constructor(
    hostKey: string,
    private readonly store: StateStore,
    private readonly processes: VmProcesses,
    private readonly faults: SshFaults,
  ) {
    this.server = new ssh2.Server({ hostKeys: [hostKey], ident: "exedev-emulator" }, (connection) =>
      this.accept(connection),
    );
    this.server.on("error", () => {});
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  /** Drops every open connection at once, as a network failure would. */
  dropConnections(): void {
    for (const connection of this.connections) {
      // Destroying the socket, rather than a polite disconnect, is what a lost VM looks like.
      (connection as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
      connection.end();
    }
  }

  close(): Promise<void> {
    this.dropConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(connection: Connection): void {
    this.connections.add(connection);
    connection.on("close", () => this.connections.delete(connection));
    connection.on("error", () => {});
    let vmName: string | undefined;
    connection.on("authentication", (context) => {
      vmName = this.authenticate(context);
    });
    let openSessions = 0;
    connection.on("session", (accept, reject) => {
      const limit = this.faults.maxSessionsPerConnection;
      if (!vmName || (limit !== undefined && openSessions >= limit)) {
        reject();
        return;
      }
      openSessions++;
      const session = accept();
      const env: Record<string, string> = {};
      let closed = false;
      const release = () => {
        if (!closed) {
          closed = true;
          openSessions--;
        }
      };
      session.on("close", release);
      session.on("env", (acceptEnv, _rejectEnv, info) => {
        env[info.key] = info.val;
        acceptEnv?.();
      });
      session.on("pty", (_acceptPty, rejectPty) => rejectPty?.());
      session.on("shell", (_acceptShell, rejectShell) => rejectShell?.());
      let running: ChildProcess | undefined;
      session.on("signal", (acceptSignal, _rejectSignal, info) => {
        if (running) killGroup(running, `SIG${info.name}` as NodeJS.Signals);
        acceptSignal?.();
      });
      session.on("exec", (acceptExec, _rejectExec, info) => {
        const channel = acceptExec();
        running = this.exec(vmName as string, info.command, env, channel);
        channel.on("close", release);
      });
      session.on("subsystem", (acceptSub, rejectSub, info) => {
        if (info.name !== "sftp" || !this.sftpServer) {
          rejectSub?.();
          return;
        }
        const channel = acceptSub();
        this.sftp(vmName as string, channel, this.sftpServer);
        channel.on("close", release);
      });
    });
  }

  /** Returns the VM the login is for, or undefined after rejecting it. */
  private authenticate(context: AuthContext): string | undefined {
    const vm = /^vm\+(.+)$/.exec(context.username)?.[1];
    if (context.method !== "publickey" || !vm || !this.store.vm(vm)) {
      context.reject(["publickey"]);
      return undefined;
    }
    const offered = context.key;
    const key = this.store
      .keys()
      .find(
        (candidate) =>
          keyBlob(candidate.publicKey).equals(offered.data) &&
          candidate.publicKey.startsWith(`${offered.algo} `),
      );
    if (!key) {
      context.reject(["publickey"]);
      return undefined;
    }
    // Without a signature the client only asks whether the key would do.
    if (!context.signature) {
      context.accept();
      return vm;
    }
    const parsed = ssh2.utils.parseKey(key.publicKey);
    const valid =
      !(parsed instanceof Error) &&
      context.blob !== undefined &&
      parsed.verify(context.blob, context.signature, context.hashAlgo);
    if (!valid) {
      context.reject(["publickey"]);
      return undefined;
    }
    this.store.touchKey(key.fingerprint);
    context.accept();
    return vm;
  }

  private environment(vm: string, extra: Record<string, string>): NodeJS.ProcessEnv {
    const home = this.store.workspace(vm);
    return {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: home,
      USER: process.env.USER ?? "exedev",
      SHELL: "/bin/bash",
      LANG: process.env.LANG ?? "C.UTF-8",
      ...this.store.vm(vm)?.env,
      ...extra,
    };
  }

  /** Runs a command as sshd would (`$SHELL -c`), as its own process group leader, in the workspace. */
  private exec(
    vm: string,
    command: string,
    env: Record<string, string>,
    channel: ServerChannel,
  ): ChildProcess {
    const child = spawn("/bin/bash", ["-c", command], {
      cwd: this.store.workspace(vm),
      env: this.environment(vm, env),
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.processes.track(vm, child);
    channel.pipe(child.stdin);
    child.stdin.on("error", () => {});
    // `end: false`: the exit status must be sent before the channel ends.
    child.stdout.pipe(channel, { end: false });
    child.stderr.pipe(channel.stderr, { end: false });
    child.on("error", (error) => {
      channel.stderr.write(`exec failed: ${error.message}\n`);
      channel.exit(127);
      channel.end();
    });
    child.on("close", (code, signal) => {
      if (code !== null) channel.exit(code);
      else channel.exit(signal ?? "SIGKILL", false, "");
      channel.end();
    });
    return child;
  }

  /** The `sftp` subsystem: OpenSSH's own sftp-server, started in the workspace, as sshd does. */
  private sftp(vm: string, channel: ServerChannel, binary: string): void {
    const child = spawn(binary, [], {
      cwd: this.store.workspace(vm),
      env: this.environment(vm, {}),
      detached: true,
      stdio: ["pipe", "pipe", "ignore"],
    });
    this.processes.track(vm, child);
    let lastTraffic = Date.now();
    const touch = () => {
      lastTraffic = Date.now();
    };
    channel.on("data", touch);
    child.stdout.on("data", touch);
    channel.pipe(child.stdin);
    child.stdin.on("error", () => {});
    child.stdout.pipe(channel);
    const idleCheck = setInterval(() => {
      const idleMs = this.faults.sftpIdleCloseMs;
      if (idleMs !== undefined && Date.now() - lastTraffic > idleMs) channel.close();
    }, 100);
    idleCheck.unref();
    const stop = () => {
      clearInterval(idleCheck);
      killGroup(child, "SIGTERM");
    };
    channel.on("close", stop);
    child.on("close", () => {
      clearInterval(idleCheck);
      channel.close();
    });
  }
}
