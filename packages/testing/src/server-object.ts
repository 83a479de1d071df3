import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { signalAll } from "./server-process.ts";
import type { TestSshServer } from "./sshd.ts";

/**
 * The parts of a {@link TestSshServer} that every starter (sshd, Dropbear, asyncssh) builds the
 * same way, so that the three stay the same shape. What differs per server, how its faults
 * reach the connections, stays in its starter.
 */

/** What a starter knows of its server once it listens. */
export interface ListeningServer {
  port: number;
  username: string;
  /** The generated client key pair, authorised for `username`. */
  clientKey: { privateKey: string; publicKey: string };
  hostKeyFingerprint: string;
  /** The server's scratch directory, holding an empty `known_hosts`; `stop()` removes it. */
  dir: string;
  /** The server's log so far. */
  logs: () => string;
  /** Ends the server's processes; `stop()` runs it before removing `dir`. */
  halt: () => Promise<void>;
}

/** A {@link TestSshServer} without its faults: identity, connect options, logs, stop. */
export function testServerFields(
  server: ListeningServer,
): Omit<TestSshServer, "dropConnections" | "freezeConnections"> {
  const knownHostsPath = join(server.dir, "known_hosts");
  return {
    host: "127.0.0.1",
    port: server.port,
    username: server.username,
    privateKey: server.clientKey.privateKey,
    publicKey: server.clientKey.publicKey,
    hostKeyFingerprint: server.hostKeyFingerprint,
    knownHostsPath,
    dir: server.dir,
    connectOptions: () => ({
      host: "127.0.0.1",
      port: server.port,
      username: server.username,
      privateKey: server.clientKey.privateKey,
      knownHostsPath,
      hostKey: { sha256: server.hostKeyFingerprint },
    }),
    logs: server.logs,
    stop: async () => {
      await server.halt();
      rmSync(server.dir, { recursive: true, force: true });
    },
  };
}

/**
 * The faults of a server with processes per connection: drop kills them (SIGKILL); freeze stops
 * them (SIGSTOP) and its release kills them. `connectionPids` is asked at each call, so that
 * connections opened since are hit too.
 */
export function connectionProcessFaults(
  connectionPids: () => number[],
): Pick<TestSshServer, "dropConnections" | "freezeConnections"> {
  return {
    dropConnections: () => signalAll(connectionPids(), "SIGKILL"),
    freezeConnections: () => {
      const all = connectionPids();
      signalAll(all, "SIGSTOP");
      return () => {
        signalAll(all, "SIGKILL");
        signalAll(all, "SIGCONT");
      };
    },
  };
}

/** Reads the log file at `logPath`: empty until the server has created it. */
export function logFileReader(logPath: string): () => string {
  return () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");
}
