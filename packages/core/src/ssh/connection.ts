import { connect as netConnect, type Socket } from "node:net";
import type { AuthHandlerMiddleware, Client } from "ssh2";
import { SandboxError } from "../errors.js";
import { authFailedError, type ResolvedAuth, resolveAuth } from "./auth.js";
import type { ResolvedConnectOptions } from "./connect-options.js";
import { enableDirectAuth } from "./direct-auth.js";
import { HostKeyVerifier } from "./host-key.js";
import { skipHostKeyProofs } from "./host-keys-notice.js";
import { canProbeKeepalive, startKeepalive } from "./keepalive.js";
import { abortedError, Semaphore } from "./semaphore.js";
import { serverSoftwareOf, unsupportedServerError } from "./server-software.js";
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

/** SSH keepalive probes that may go unanswered before the connection counts as lost. */
const KEEPALIVE_COUNT_MAX = 3;
/** A retry of a connect attempt is given at least this long, even with less budget left. */
const MIN_ATTEMPT_MS = 1_000;

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

/** A live connection: the client, the socket under it, and its keepalive. */
interface Connected {
  client: Client;
  socket: Socket;
  stopKeepalive: () => void;
}

/** Rejects with `abortedError(signal)` when `signal` aborts; returns the listener's remover. */
function onAbort(signal: AbortSignal, reject: (error: Error) => void, cleanUp: () => void): () => void {
  const listener = (): void => {
    cleanUp();
    reject(abortedError(signal));
  };
  signal.addEventListener("abort", listener, { once: true });
  return () => signal.removeEventListener("abort", listener);
}

function openSocket(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortedError(signal));
      return;
    }
    const socket = netConnect({ host, port });
    const removeAbort = onAbort(signal, reject, () => {
      clearTimeout(timer);
      socket.destroy();
    });
    const timer = setTimeout(() => {
      removeAbort();
      socket.destroy();
      reject(new NetworkFailure(`TCP connect to ${host}:${port} timed out`, "ETIMEDOUT"));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      removeAbort();
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
      removeAbort();
      reject(
        new NetworkFailure(
          `TCP connect to ${host}:${port} failed: ${error.code ?? error.message}`,
          error.code,
        ),
      );
    });
  });
}

async function connectOnce(
  options: ResolvedConnectOptions,
  auth: ResolvedAuth,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Connected> {
  const release = await handshakeSlots.acquire(signal);
  try {
    const socket = await openSocket(options.host, options.port, timeoutMs, signal);
    const verifier = new HostKeyVerifier(options.hostKey, options.knownHostsPath, options.host, options.port);
    const client = new SshClient();
    const ownKeepalive = canProbeKeepalive(client);
    return await new Promise<Connected>((resolve, reject) => {
      const fail = (error: Error & { level?: string }): void => {
        removeAbort();
        client.removeAllListeners();
        client.on("error", () => {});
        client.end();
        socket.destroy();
        if (signal.aborted) reject(abortedError(signal));
        else if (verifier.failed) reject(verifier.error());
        else if (unsupported) reject(unsupported);
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
      const removeAbort = onAbort(signal, reject, () => fail(new Error("aborted")));
      // Decided after key exchange, before any credential is offered.
      let unsupported: SandboxError | undefined;
      client.once("handshake", () => {
        unsupported = unsupportedServerError(serverSoftwareOf(client));
        if (unsupported) fail(new Error("unsupported server"));
      });
      client.once("ready", () => {
        removeAbort();
        client.removeListener("error", fail);
        client.removeListener("close", onEarlyClose);
        const intervalMs = options.keepaliveIntervalMs;
        const stopKeepalive =
          ownKeepalive && intervalMs > 0
            ? startKeepalive(client, socket, intervalMs, KEEPALIVE_COUNT_MAX)
            : () => {};
        resolve({ client, socket, stopKeepalive });
      });
      const onEarlyClose = (): void => fail(new Error("connection closed during the handshake"));
      client.once("error", fail);
      client.once("close", onEarlyClose);
      client.connect({
        sock: socket,
        username: options.username,
        authHandler: nextCredential(auth),
        hostVerifier: (key: Buffer) => verifier.verify(key),
        keepaliveInterval: ownKeepalive ? 0 : options.keepaliveIntervalMs,
        keepaliveCountMax: KEEPALIVE_COUNT_MAX,
        readyTimeout: timeoutMs,
      });
      // Round trips fewer before `ready` and to the first channel; each a no-op on an ssh2
      // whose internals differ.
      enableDirectAuth(client);
      skipHostKeyProofs(client);
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

/** A connect in progress, shared by every `get()` that waits for it. */
interface Opening {
  promise: Promise<Client>;
  /** Aborted by `close()`, or when every waiter gave up: stops dialling. */
  controller: AbortController;
  waiters: number;
}

/**
 * One SSH connection that re-establishes itself. The first `get()` connects (retrying network
 * errors for `connectRetryMs`); a `get()` after the connection was lost reconnects, retrying for
 * the `reconnectMs` budget, so a VM or sshd restart is survived. When the budget is spent the
 * connection is dead for good and every call rejects with `sandbox_died`.
 *
 * The socket keeps the process alive only while a caller holds the connection ({@link hold});
 * an idle connection, and its keepalive, never do. Options and credentials live in private
 * fields, so inspecting the connection shows no key material.
 */
export class SshConnection {
  #connected: Connected | undefined;
  #opening: Opening | undefined;
  #dead: SandboxError | undefined;
  #closed = false;
  #everReady = false;
  /** When reconnecting began after the last loss; cleared once connected again. */
  #outageStartedMs: number | undefined;
  #holds = 0;
  readonly #options: ResolvedConnectOptions;
  readonly #auth: ResolvedAuth;
  readonly #lostListeners = new Set<(client: Client) => void>();
  readonly #connectedListeners = new Set<(client: Client) => void>();

  constructor(options: ResolvedConnectOptions) {
    this.#options = options;
    this.#auth = resolveAuth(options);
  }

  /** True once `close()` was called. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * The live client, connecting or reconnecting first when needed. During an outage the call
   * waits (up to the `reconnectMs` budget); `signal` abandons the wait with code `aborted`.
   * When every waiter has abandoned it, dialling stops; the next call resumes the same budget.
   */
  get(signal?: AbortSignal): Promise<Client> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#dead) return Promise.reject(this.#dead);
    if (this.#connected) return Promise.resolve(this.#connected.client);
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    this.#opening ??= this.#startOpening();
    const opening = this.#opening;
    opening.waiters++;
    return new Promise<Client>((resolve, reject) => {
      let waiting = true;
      const leave = (): void => {
        waiting = false;
        opening.waiters--;
        signal?.removeEventListener("abort", abandon);
      };
      const abandon = (): void => {
        if (!waiting) return;
        leave();
        reject(abortedError(signal));
        if (opening.waiters === 0) {
          // Nobody waits: stop dialling. A call arriving now starts afresh rather than joining
          // (and sharing the fate of) the abandoned attempt.
          if (this.#opening === opening) this.#opening = undefined;
          opening.controller.abort();
        }
      };
      signal?.addEventListener("abort", abandon, { once: true });
      opening.promise.then(
        (client) => {
          if (!waiting) return;
          leave();
          resolve(client);
        },
        (error: unknown) => {
          if (!waiting) return;
          leave();
          reject(error);
        },
      );
    });
  }

  /** Whether `client` is still the live connection. */
  isCurrent(client: Client): boolean {
    return this.#connected?.client === client;
  }

  /**
   * Marks pending work: while any hold is out, the connection's socket keeps the process alive.
   * Returns the release (idempotent). Idle connections never keep a script from exiting.
   */
  hold(): () => void {
    this.#holds++;
    this.#applyRef();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      this.#applyRef();
    };
  }

  /** Registers a callback for when a live connection is lost (not for `close()`). */
  onLost(listener: (client: Client) => void): () => void {
    this.#lostListeners.add(listener);
    return () => this.#lostListeners.delete(listener);
  }

  /**
   * After an operation saw the connection drop: the error to report. Waits for the reconnect
   * (within the `reconnectMs` budget); if that works the operation's fate is unknown
   * (`connection_failed`, retryable), otherwise `sandbox_died`; `aborted` when `signal` ends
   * the wait. `client` is the connection the operation used: ssh2 can fail calls on a dead
   * socket before it emits `close`, so a still-current client is forgotten first rather than
   * handed back as live.
   */
  async lostError(operation: string, client?: Client, signal?: AbortSignal): Promise<SandboxError> {
    if (this.#closed) return closedError();
    if (client) this.#forget(client);
    try {
      await this.get(signal);
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
    this.#connectedListeners.add(listener);
    return () => this.#connectedListeners.delete(listener);
  }

  /** Closes the connection; later calls, and calls waiting for a reconnect, reject with code `closed`. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#opening?.controller.abort();
    const connected = this.#connected;
    this.#connected = undefined;
    connected?.stopKeepalive();
    connected?.client.end();
  }

  /** Drops `client` if it is still the live connection, and tells the listeners it was lost. */
  #forget(client: Client): void {
    const connected = this.#connected;
    if (connected?.client !== client) return;
    this.#connected = undefined;
    connected.stopKeepalive();
    client.end();
    for (const listener of this.#lostListeners) listener(client);
  }

  #applyRef(): void {
    const socket = this.#connected?.socket;
    if (!socket) return;
    if (this.#holds > 0) socket.ref();
    else socket.unref();
  }

  #startOpening(): Opening {
    const controller = new AbortController();
    const opening: Opening = { controller, waiters: 0, promise: Promise.resolve(undefined as never) };
    opening.promise = this.#open(controller.signal).finally(() => {
      if (this.#opening === opening) this.#opening = undefined;
    });
    // Waiters attach their own handlers; this one keeps an abandoned attempt from being unhandled.
    opening.promise.catch(() => {});
    return opening;
  }

  async #open(signal: AbortSignal): Promise<Client> {
    const options = this.#options;
    const reconnecting = this.#everReady;
    const now = Date.now();
    if (reconnecting) this.#outageStartedMs ??= now;
    const windowEndMs = reconnecting
      ? (this.#outageStartedMs ?? now) + options.reconnectMs
      : now + options.connectRetryMs;
    let connected: Connected;
    try {
      connected = await connectWithRetry(options, this.#auth, windowEndMs, !reconnecting, signal);
    } catch (error) {
      if (this.#closed) throw closedError();
      if (signal.aborted) throw abortedError(signal); // nobody waits any more; not a verdict
      if (!reconnecting) {
        throw SandboxError.isInstance(error)
          ? error
          : new SandboxError(
              "connection_failed",
              `Could not connect to ${options.host}:${options.port}: ${(error as Error).message}.`,
              { details: { host: options.host, port: options.port } },
            );
      }
      this.#dead = diedError(error);
      throw this.#dead;
    }
    const { client } = connected;
    if (this.#closed || this.#connected) {
      // Closed meanwhile, or an abandoned attempt finished after a newer one: keep one connection.
      connected.stopKeepalive();
      client.end();
      if (this.#closed) throw closedError();
      if (this.#connected) return this.#connected.client;
    }
    this.#everReady = true;
    this.#outageStartedMs = undefined;
    this.#connected = connected;
    this.#applyRef();
    client.on("error", () => {
      // Errors are followed by `close`, handled below; operations report their own failures.
    });
    client.once("close", () => this.#forget(client));
    for (const listener of this.#connectedListeners) listener(client);
    return client;
  }
}

/** Resolves after `ms`, or rejects with `aborted` as soon as `signal` aborts. Ref'd: a caller waits. */
function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortedError(signal));
      return;
    }
    const timer = setTimeout(() => {
      removeAbort();
      resolve();
    }, ms);
    const removeAbort = onAbort(signal, reject, () => clearTimeout(timer));
  });
}

/**
 * Connects, retrying retryable failures with back-off until `windowEndMs`; the last attempt is
 * made at the end of the window, so a budget is spent in full before giving up. `firstConnect`
 * extends the window for handshakes the server dropped (our own burst against `MaxStartups`);
 * a reconnect keeps to its budget, so 0 means one attempt.
 */
async function connectWithRetry(
  options: ResolvedConnectOptions,
  auth: ResolvedAuth,
  windowEndMs: number,
  firstConnect: boolean,
  signal: AbortSignal,
): Promise<Connected> {
  const started = Date.now();
  const readyMs = options.readyTimeoutMs || 20_000;
  for (let attempt = 0; ; attempt++) {
    // Later attempts fit in what is left of the budget, so an outage ends near its deadline.
    const leftMs = windowEndMs - Date.now();
    const timeoutMs = attempt === 0 ? readyMs : Math.min(readyMs, Math.max(leftMs, MIN_ATTEMPT_MS));
    try {
      return await connectOnce(options, auth, timeoutMs, signal);
    } catch (error) {
      if (signal.aborted || !isRetryable(error)) throw error;
      const dropped = error instanceof NetworkFailure && error.errno === undefined;
      const endMs =
        dropped && firstConnect ? Math.max(windowEndMs, started + DROPPED_HANDSHAKE_RETRY_MS) : windowEndMs;
      const remainingMs = endMs - Date.now();
      if (remainingMs <= 0) throw error;
      await sleepUnlessAborted(Math.min(100 * 2 ** attempt, 1_000, remainingMs), signal);
    }
  }
}

export function closedError(): SandboxError {
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
