import type { Client, SFTPWrapper } from "ssh2";
import { SandboxError } from "../errors.js";
import { type ChannelSlots, ConnectionGone, openChannel } from "./channels.js";
import type { SshConnection } from "./connection.js";
import { sshUtils as utils } from "./ssh2-runtime.js";

const { STATUS_CODE } = utils.sftp;

interface OpenSession {
  sftp: SFTPWrapper;
  client: Client;
  closed: boolean;
  onClose: Set<() => void>;
  release: () => void;
  /** Requests and transfers in flight. */
  busy: number;
  /** File handles open on it (a handle means nothing on another session). */
  handles: number;
  /** An exec is waiting for this session's slot. */
  yieldRequested: boolean;
}

/** The SFTP session closed under a request; ssh2 would otherwise never call back. */
class SessionClosed extends Error {}

/** Per-call options of {@link SftpSession.call}. */
export interface SftpCallOptions {
  /** Safe to send again on a fresh session when the first one closed mid-request. @default true */
  idempotent?: boolean;
  /** The remote path, for error messages. */
  path?: string;
}

/**
 * The connection's SFTP session: opened on first use, holding one channel slot while open,
 * dropped when the server closes it (idle `ChannelTimeout`, connection loss) and reopened by the
 * next call. Every request has a deadline, because ssh2 never answers requests made on a session
 * that has closed.
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

  /** Runs one SFTP request, mapping SFTP status codes to {@link SandboxError} codes. */
  async call<T>(
    operation: string,
    run: (sftp: SFTPWrapper, done: (error: Error | null | undefined, value?: T) => void) => void,
    options: SftpCallOptions = {},
  ): Promise<T> {
    const idempotent = options.idempotent ?? true;
    for (let attempt = 0; ; attempt++) {
      const session = await this.session();
      let sent = false;
      const leave = this.enter(session);
      try {
        return await new Promise<T>((resolve, reject) => {
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
          if (this.timeoutMs > 0) {
            timer = setTimeout(() => {
              session.onClose.delete(onClose);
              // A session that stopped answering is useless; the next call opens a fresh one.
              this.drop(session);
              reject(
                new SandboxError("timeout", `SFTP ${operation} got no answer within ${this.timeoutMs} ms.`, {
                  details: { operation, path: options.path },
                }),
              );
            }, this.timeoutMs);
          }
          session.onClose.add(onClose);
          sent = true;
          try {
            run(session.sftp, (error, value) => {
              settle();
              if (!error && (operation === "open" || operation === "opendir")) session.handles++;
              if (operation === "close") session.handles = Math.max(0, session.handles - 1);
              if (error) reject(error);
              else resolve(value as T);
            });
          } catch (error) {
            settle();
            reject(error);
          }
        });
      } catch (error) {
        if (!(error instanceof SessionClosed)) throw mapSftpError(error, operation, options.path);
        if (attempt === 0 && (idempotent || !sent)) continue;
        if (!this.connection.isCurrent(session.client))
          throw await this.connection.lostError(`SFTP ${operation}`, session.client);
        throw new SandboxError(
          "io_error",
          `The SFTP session closed during ${operation}; it may or may not have completed.`,
          {
            retryable: true,
            details: { operation, path: options.path },
          },
        );
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

  /** The open session's wrapper, for transfers (fastGet/fastPut) that manage their own requests. */
  async withSession<T>(operation: string, run: (sftp: SFTPWrapper) => Promise<T>, path?: string): Promise<T> {
    const session = await this.session();
    const leave = this.enter(session);
    let onClose: (() => void) | undefined;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new SessionClosed());
      session.onClose.add(onClose);
    });
    closed.catch(() => {});
    try {
      return await Promise.race([run(session.sftp), closed]);
    } catch (error) {
      if (error instanceof SessionClosed) {
        if (!this.connection.isCurrent(session.client))
          throw await this.connection.lostError(`SFTP ${operation}`, session.client);
        throw new SandboxError("io_error", `The SFTP session closed during ${operation}.`, {
          retryable: true,
        });
      }
      throw mapSftpError(error, operation, path);
    } finally {
      if (onClose) session.onClose.delete(onClose);
      leave();
    }
  }

  /** Closes the session (used by `close()`). */
  close(): void {
    if (this.current) {
      const session = this.current;
      this.drop(session);
      session.sftp.end();
    }
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
    const permit = await this.slots.acquireSftp(() => {
      if (session) this.yieldWhenIdle(session);
    });
    const release = permit.release;
    try {
      const client = await this.connection.get();
      let sftp: SFTPWrapper;
      try {
        sftp = await openChannel<SFTPWrapper>(
          () => this.connection.isCurrent(client),
          (callback) => client.sftp(callback),
        );
      } catch (error) {
        if (error instanceof ConnectionGone) throw await this.connection.lostError("opening SFTP", client);
        throw error;
      }
      permit.opened();
      session = {
        sftp,
        client,
        closed: false,
        onClose: new Set(),
        release,
        busy: 0,
        handles: 0,
        yieldRequested: false,
      };
      const opened = session;
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

  /** Closes `session` now if idle, else after its last request and handle, to free its slot. */
  private yieldWhenIdle(session: OpenSession): void {
    session.yieldRequested = true;
    if (session.busy > 0 || session.handles > 0 || session.closed) return;
    this.drop(session);
    session.sftp.end();
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

  private drop(session: OpenSession): void {
    if (session.closed) return;
    session.closed = true;
    session.release();
    if (this.current === session) this.current = undefined;
    for (const listener of [...session.onClose]) listener();
    session.onClose.clear();
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
