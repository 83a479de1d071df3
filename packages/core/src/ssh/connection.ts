import { connect as netConnect, type Socket } from "node:net";
import type { AuthHandlerMiddleware, Client } from "ssh2";
import { SandboxError } from "../errors.js";
import { authFailedError, type ResolvedAuth, resolveAuth } from "./auth.js";
import type { ResolvedConnectOptions } from "./connect-options.js";
import { HostKeyVerifier } from "./host-key.js";
import { Semaphore, sleep } from "./semaphore.js";
import { SshClient } from "./ssh2-runtime.js";

/**
 * OpenSSH's default `MaxStartups 10:30:100` starts dropping handshakes past ten unauthenticated
 * connections, and exe.dev drops bursts of connections from one address. A slot is released here
 * when the client is authenticated, a little before sshd frees its own (the same race as with
 * `MaxSessions`), so the process stays at half the limit: at most 5 handshakes at once.
 */
const handshakeSlots = new Semaphore(5);
/** A handshake the server dropped is retried this long even when `connectRetryMs` is 0. */
const DROPPED_HANDSHAKE_RETRY_MS = 3_000;

/** After a connection that worked is lost, reconnecting is retried for at least this long. */
const RECONNECT_WINDOW_MS = 2_000;

const RETRYABLE_NETWORK_CODES = new Set([
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);

/** A network-level failure marked for the retry loop. */
class NetworkFailure extends Error {
  constructor(
    message: string,
    readonly errno: string | undefined,
  ) {
    super(message);
  }
}

function openSocket(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NetworkFailure(`TCP connect to ${host}:${port} timed out`, "ETIMEDOUT"));
    }, timeoutMs || 20_000);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      // ssh2 drops its socket listeners on close; a late write (keepalive) must not crash the
      // process with an unhandled EPIPE. ssh2 still sees errors through its own listeners.
      socket.on("error", () => {});
      // Without TCP_NODELAY every exec round trip waits on Nagle + delayed ACK (~40 ms).
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new NetworkFailure(
          `TCP connect to ${host}:${port} failed: ${error.code ?? error.message}`,
          error.code,
        ),
      );
    });
  });
}

async function connectOnce(options: ResolvedConnectOptions, auth: ResolvedAuth): Promise<Client> {
  const release = await handshakeSlots.acquire();
  try {
    const socket = await openSocket(options.host, options.port, options.readyTimeoutMs);
    const verifier = new HostKeyVerifier(options.hostKey, options.knownHostsPath, options.host, options.port);
    const client = new SshClient();
    return await new Promise<Client>((resolve, reject) => {
      const fail = (error: Error & { level?: string }): void => {
        client.removeAllListeners();
        client.on("error", () => {});
        client.end();
        socket.destroy();
        if (verifier.refusedReason) reject(verifier.error());
        else if (error.level === "client-authentication")
          reject(authFailedError(auth, options.username, options.host));
        else
          reject(
            new NetworkFailure(
              `SSH handshake with ${options.host}:${options.port} failed: ${error.message}`,
              undefined,
            ),
          );
      };
      client.once("ready", () => {
        client.removeListener("error", fail);
        client.removeListener("close", onEarlyClose);
        resolve(client);
      });
      const onEarlyClose = (): void => fail(new Error("connection closed during the handshake"));
      client.once("error", fail);
      client.once("close", onEarlyClose);
      client.connect({
        sock: socket,
        username: options.username,
        authHandler: nextCredential(auth),
        hostVerifier: (key: Buffer) => verifier.verify(key),
        keepaliveInterval: options.keepaliveIntervalMs,
        keepaliveCountMax: 3,
        readyTimeout: options.readyTimeoutMs || 20_000,
      });
    });
  } finally {
    release();
  }
}

/** ssh2's auth middleware: offers each credential in order, then gives up (`false`). */
function nextCredential(auth: ResolvedAuth): AuthHandlerMiddleware {
  let index = 0;
  return (_methodsLeft, _partialSuccess, next) => {
    const credential = auth.credentials[index++];
    next(credential ? credential.method : (false as never));
  };
}

function isRetryable(error: unknown): boolean {
  if (!(error instanceof NetworkFailure)) return false;
  // Handshake failures without an errno are dropped handshakes (MaxStartups) or timeouts.
  return error.errno === undefined || RETRYABLE_NETWORK_CODES.has(error.errno);
}

/**
 * One SSH connection that re-establishes itself: the first `get()` connects (retrying network
 * errors for `connectRetryMs`), and a `get()` after the connection was lost reconnects. When a
 * reconnect fails the connection is dead for good and every call rejects with `sandbox_died`.
 */
export class SshConnection {
  private client: Client | undefined;
  private pending: Promise<Client> | undefined;
  private dead: SandboxError | undefined;
  private closed = false;
  private everReady = false;
  private readonly auth: ResolvedAuth;
  private readonly lostListeners = new Set<(client: Client) => void>();
  private readonly connectedListeners = new Set<(client: Client) => void>();

  constructor(private readonly options: ResolvedConnectOptions) {
    this.auth = resolveAuth(options);
  }

  /** True once `close()` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The live client, connecting or reconnecting first when needed. */
  get(): Promise<Client> {
    if (this.closed) return Promise.reject(closedError());
    if (this.dead) return Promise.reject(this.dead);
    if (this.client) return Promise.resolve(this.client);
    this.pending ??= this.open().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Whether `client` is still the live connection. */
  isCurrent(client: Client): boolean {
    return this.client === client;
  }

  /** Registers a callback for when a live connection is lost (not for `close()`). */
  onLost(listener: (client: Client) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /**
   * After an operation saw the connection drop: the error to report. Tries to reconnect; if that
   * works the operation's fate is unknown (`connection_failed`, retryable), otherwise `sandbox_died`.
   * `client` is the connection the operation used: ssh2 can fail calls on a dead socket before it
   * emits `close`, so a still-current client is forgotten first rather than handed back as live.
   */
  async lostError(operation: string, client?: Client): Promise<SandboxError> {
    if (this.closed) return closedError();
    if (client) this.forget(client);
    try {
      await this.get();
      return new SandboxError(
        "connection_failed",
        `The SSH connection was lost during ${operation}; it has been re-established, but the operation may or may not have completed.`,
      );
    } catch (error) {
      return SandboxError.isInstance(error) ? error : diedError(error);
    }
  }

  /**
   * Registers a callback for each time a connection becomes live (the first one and every
   * reconnect), e.g. to run kills the sandbox still owes from before a connection loss.
   */
  onConnected(listener: (client: Client) => void): () => void {
    this.connectedListeners.add(listener);
    return () => this.connectedListeners.delete(listener);
  }

  /** Drops `client` if it is still the live connection, and tells the listeners it was lost. */
  private forget(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end();
    for (const listener of this.lostListeners) listener(client);
  }

  /** Closes the connection; later calls reject with code `closed`. Idempotent. */
  close(): void {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    client?.end();
  }

  private async open(): Promise<Client> {
    const retryMs = this.everReady
      ? Math.max(this.options.connectRetryMs, RECONNECT_WINDOW_MS)
      : this.options.connectRetryMs;
    let client: Client;
    try {
      client = await connectWithRetry(this.options, this.auth, retryMs);
    } catch (error) {
      if (!this.everReady) {
        throw SandboxError.isInstance(error)
          ? error
          : new SandboxError(
              "connection_failed",
              `Could not connect to ${this.options.host}:${this.options.port}: ${(error as Error).message}.`,
              {
                details: { host: this.options.host, port: this.options.port },
              },
            );
      }
      this.dead = diedError(error);
      throw this.dead;
    }
    if (this.closed) {
      client.end();
      throw closedError();
    }
    this.everReady = true;
    this.client = client;
    client.on("error", () => {
      // Errors are followed by `close`, handled below; operations report their own failures.
    });
    client.once("close", () => this.forget(client));
    for (const listener of this.connectedListeners) listener(client);
    return client;
  }
}

async function connectWithRetry(
  options: ResolvedConnectOptions,
  auth: ResolvedAuth,
  retryMs: number,
): Promise<Client> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await connectOnce(options, auth);
    } catch (error) {
      const delayMs = Math.min(1_000, 100 * 2 ** attempt);
      const dropped = error instanceof NetworkFailure && error.errno === undefined;
      const windowMs = dropped ? Math.max(retryMs, DROPPED_HANDSHAKE_RETRY_MS) : retryMs;
      if (!isRetryable(error) || Date.now() + delayMs > started + windowMs) throw error;
      await sleep(delayMs);
    }
  }
}

function closedError(): SandboxError {
  return new SandboxError("closed", "The sandbox was closed; create a new one to continue.", {
    retryable: false,
  });
}

function diedError(cause: unknown): SandboxError {
  const reason = SandboxError.isInstance(cause) ? cause.message : (cause as Error)?.message;
  return new SandboxError(
    "sandbox_died",
    `The SSH connection was lost and could not be re-established (${reason ?? "unknown reason"}); the machine may be gone.`,
    { cause, retryable: false },
  );
}
