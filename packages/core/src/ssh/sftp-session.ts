import type { Client, SFTPWrapper } from "ssh2";
import { SandboxError } from "../errors.js";
import { type ChannelSlots, ConnectionGone } from "./channels.js";
import type { SshConnection } from "./connection.js";
import { openSftp } from "./sftp-open.js";
import { sshUtils as utils } from "./ssh2-runtime.js";

const { STATUS_CODE } = utils.sftp;

interface OpenSession {
  sftp: SFTPWrapper;
  client: Client;
  closed: boolean;
  onClose: Set<() => void>;
  release: () => void;
  /** Operations in flight on it (each holds its handles for its whole length). */
  busy: number;
  /** An exec is waiting for this session's channel slot. */
  yieldRequested: boolean;
}

/** The SFTP session closed under a request; ssh2 would otherwise never call back. */
class SessionClosed extends Error {}

/**
 * ssh2 fails the requests still pending when a session's channel closes with this message (and
 * no SFTP status): the server never answered them.
 */
function isUnanswered(error: unknown): boolean {
  return (
    (error as { code?: unknown })?.code === undefined &&
    (error as Error)?.message === "No response from server"
  );
}

/** Per-call options of {@link SftpSession.call} and {@link SftpSession.operation}. */
export interface SftpCallOptions {
  /**
   * Safe to run again from the start on a fresh session when the first one closed midway.
   * @default true for {@link SftpSession.call}, false for {@link SftpSession.operation}
   */
  idempotent?: boolean;
  /** The remote path, for error messages. */
  path?: string;
}

/**
 * Requests bound to one SFTP session. Handles name files only within the session that opened
 * them (servers number them from 0 again in every session), so a request carrying a handle must
 * never be sent on another session: once this session closes, every request here fails.
 */
export interface SftpScope {
  /** Sends one request on this scope's session, mapping SFTP status codes to {@link SandboxError} codes. */
  call<T>(
    operation: string,
    run: (sftp: SFTPWrapper, done: (error: Error | null | undefined, value?: T) => void) => void,
    path?: string,
  ): Promise<T>;
  /** Runs a transfer (fastGet/fastPut) that issues its own requests on this scope's session. */
  transfer<T>(run: (sftp: SFTPWrapper) => Promise<T>, path?: string): Promise<T>;
}

/**
 * The connection's SFTP session: opened on first use, holding one channel slot while open,
 * dropped when the server closes it (idle `ChannelTimeout`, connection loss) and reopened by the
 * next call. Every request, and opening the session, has a deadline, because ssh2 never answers
 * requests made on a session that has closed.
 */
export class SftpSession {
  private current: OpenSession | undefined;
  private opening: Promise<OpenSession> | undefined;

  constructor(
    private readonly connection: SshConnection,
    private readonly slots: ChannelSlots,
    private readonly timeoutMs: number,
  ) {
    connection.onLost(() => {
      if (this.current) this.drop(this.current);
    });
  }

  /**
   * Runs one request that names its target by path (no handle), on whichever session is open.
   * When the session closes under an idempotent request, it is sent again on a fresh session.
   */
  call<T>(
    operation: string,
    run: (sftp: SFTPWrapper, done: (error: Error | null | undefined, value?: T) => void) => void,
    options: SftpCallOptions = {},
  ): Promise<T> {
    return this.operation(operation, (scope) => scope.call(operation, run, options.path), {
      idempotent: options.idempotent ?? true,
      path: options.path,
    });
  }

  /**
   * Runs `body` with every request on one session (open a handle, use it, close it). When that
   * session closes midway, an idempotent operation is run again from the start on a fresh
   * session, once; otherwise (or the second time) the call fails with `connection_failed` (or
   * `sandbox_died` when the connection cannot be re-established). Nothing is ever answered from
   * another session.
   */
  async operation<T>(
    operation: string,
    body: (scope: SftpScope) => Promise<T>,
    options: SftpCallOptions = {},
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const session = await this.session();
      const scope = new BoundScope(session, operation, this.timeoutMs, (gone, end) => this.drop(gone, end));
      const leave = this.enter(session);
      try {
        return await body(scope);
      } catch (error) {
        if (!(error instanceof SessionClosed)) throw error;
        if (attempt === 0 && (options.idempotent || !scope.sent)) continue;
        throw await this.closedError(session, operation, options.path);
      } finally {
        leave();
      }
    }
  }

  /** Whether the server supports `posix-rename@openssh.com` (atomic replace). */
  async supportsPosixRename(): Promise<boolean> {
    const session = await this.session();
    // ssh2 keeps the server's advertised extensions here; it has no public accessor.
    const extensions =
      (session.sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
    return "posix-rename@openssh.com" in extensions;
  }

  /** Registers `listener` for every time the connection becomes live again (see SshConnection.onConnected). */
  onConnected(listener: () => void): () => void {
    return this.connection.onConnected(() => listener());
  }

  /** Registers `listener` for every time a live connection is lost. */
  onLost(listener: () => void): () => void {
    return this.connection.onLost(() => listener());
  }

  /** Closes the session (used by `close()`). */
  close(): void {
    if (this.current) this.drop(this.current, true);
  }

  /** Forgets `session`; `end` also closes its channel (a session that stopped answering). */
  private drop(session: OpenSession, end = false): void {
    if (session.closed) return;
    session.closed = true;
    session.release();
    if (this.current === session) this.current = undefined;
    if (end) session.sftp.end();
    for (const listener of [...session.onClose]) listener();
    session.onClose.clear();
  }

  private async closedError(session: OpenSession, operation: string, path?: string): Promise<SandboxError> {
    if (!this.connection.isCurrent(session.client))
      return await this.connection.lostError(`SFTP ${operation}`, session.client);
    return new SandboxError(
      "connection_failed",
      `The SFTP session closed during ${operation}; it may or may not have completed.`,
      { details: { operation, path } },
    );
  }

  private session(): Promise<OpenSession> {
    if (this.current && !this.current.closed) return Promise.resolve(this.current);
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async open(): Promise<OpenSession> {
    // An exec waiting for a slot asks the session to give its slot back once idle, so that no
    // channel limit (maxChannels 2, a server's MaxSessions) can deadlock on the SFTP session.
    let session: OpenSession | undefined;
    // The pool asks once; a request that comes while the session is still opening is kept and
    // honoured after its first operation, so the opener still gets its call through.
    let askedWhileOpening = false;
    const permit = await this.slots.acquireSftp(() => {
      if (session) this.yieldWhenIdle(session);
      else askedWhileOpening = true;
    });
    const release = permit.release;
    try {
      const client = await this.connection.get();
      let sftp: SFTPWrapper;
      try {
        sftp = await openSftp(client, () => this.connection.isCurrent(client), this.timeoutMs);
      } catch (error) {
        if (error instanceof ConnectionGone) throw await this.connection.lostError("opening SFTP", client);
        throw error;
      }
      permit.opened();
      const opened: OpenSession = {
        sftp,
        client,
        closed: false,
        onClose: new Set(),
        release,
        busy: 0,
        yieldRequested: askedWhileOpening,
      };
      session = opened;
      const onGone = (): void => this.drop(opened);
      sftp.once("close", onGone);
      sftp.once("end", onGone);
      sftp.on("error", onGone);
      this.current = opened;
      return opened;
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * Closes `session` now if idle, else once its last operation ends, to free its slot. Handles
   * live only inside operations, so an idle session holds none that could be lost.
   */
  private yieldWhenIdle(session: OpenSession): void {
    session.yieldRequested = true;
    if (session.busy > 0 || session.closed) return;
    this.drop(session, true);
  }

  private enter(session: OpenSession): () => void {
    session.busy++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      session.busy--;
      if (session.yieldRequested) this.yieldWhenIdle(session);
    };
  }
}

/** An {@link SftpScope} on one session. */
class BoundScope implements SftpScope {
  /** Whether any request was handed to ssh2 (it may have reached the server). */
  sent = false;

  constructor(
    private readonly session: OpenSession,
    private readonly operation: string,
    private readonly timeoutMs: number,
    private readonly drop: (session: OpenSession, end?: boolean) => void,
  ) {}

  call<T>(
    operation: string,
    run: (sftp: SFTPWrapper, done: (error: Error | null | undefined, value?: T) => void) => void,
    path?: string,
  ): Promise<T> {
    const session = this.session;
    const timeoutMs = this.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      if (session.closed) {
        reject(new SessionClosed());
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const onClose = (): void => {
        clearTimeout(timer);
        reject(new SessionClosed());
      };
      const settle = (): void => {
        clearTimeout(timer);
        session.onClose.delete(onClose);
      };
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          session.onClose.delete(onClose);
          // A session that stopped answering is useless; the next call opens a fresh one.
          this.drop(session, true);
          reject(
            new SandboxError("timeout", `SFTP ${operation} got no answer within ${timeoutMs} ms.`, {
              details: { operation, path },
            }),
          );
        }, timeoutMs);
      }
      session.onClose.add(onClose);
      this.sent = true;
      try {
        run(session.sftp, (error, value) => {
          settle();
          if (!error) resolve(value as T);
          else if (session.closed || isUnanswered(error)) {
            this.drop(session);
            reject(new SessionClosed());
          } else reject(mapSftpError(error, operation, path));
        });
      } catch (error) {
        settle();
        reject(session.closed ? new SessionClosed() : mapSftpError(error, operation, path));
      }
    });
  }

  async transfer<T>(run: (sftp: SFTPWrapper) => Promise<T>, path?: string): Promise<T> {
    const session = this.session;
    if (session.closed) throw new SessionClosed();
    let onClose: (() => void) | undefined;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new SessionClosed());
      session.onClose.add(onClose);
    });
    closed.catch(() => {});
    this.sent = true;
    try {
      return await Promise.race([run(session.sftp), closed]);
    } catch (error) {
      if (error instanceof SessionClosed) throw error;
      if (session.closed || isUnanswered(error)) {
        this.drop(session);
        throw new SessionClosed();
      }
      throw mapSftpError(error, this.operation, path);
    } finally {
      if (onClose) session.onClose.delete(onClose);
    }
  }
}

/** Maps an ssh2 SFTP error (numeric `code`) to a {@link SandboxError}. */
export function mapSftpError(error: unknown, operation: string, path?: string): SandboxError {
  if (SandboxError.isInstance(error)) return error;
  const code = (error as { code?: unknown })?.code;
  const where = path === undefined ? "" : ` ${path}`;
  const details = { operation, path, sftpStatus: code };
  switch (code) {
    case STATUS_CODE.NO_SUCH_FILE:
      return new SandboxError("not_found", `${operation}: no such file or directory:${where}.`, { details });
    case STATUS_CODE.PERMISSION_DENIED:
      return new SandboxError("permission_denied", `${operation}: permission denied:${where}.`, { details });
    case STATUS_CODE.OP_UNSUPPORTED:
      return new SandboxError("io_error", `${operation}: the SFTP server does not support this operation.`, {
        details,
      });
    default:
      return new SandboxError(
        "io_error",
        `${operation} failed:${where}: ${(error as Error)?.message ?? String(error)}.`,
        {
          cause: error,
          details,
        },
      );
  }
}
