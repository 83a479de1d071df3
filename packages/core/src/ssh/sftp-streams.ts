import type { Stats } from "ssh2";
import { isSandboxError, SandboxError } from "../errors.js";
import { deferred } from "./deferred.js";
import { onAbort } from "./file-abort.js";
import { isDirectoryMode } from "./sftp-modes.js";
import { CHUNK_BYTES } from "./sftp-read.js";
import type { SftpScope, SftpSession } from "./sftp-session.js";
import { sshUtils as utils } from "./ssh2-runtime.js";

const { STATUS_CODE } = utils.sftp;

/**
 * Requests one stream keeps in flight (2 MiB): the read-ahead of a read stream, the writes not
 * yet answered of a write stream. Enough for ~100 MB/s at a 20 ms round trip, and a bound on
 * what one stream holds in memory.
 */
export const STREAM_DEPTH = 8;

/**
 * Opens `path` and resolves with its content as a web stream: pipelined reads of
 * {@link CHUNK_BYTES}, at most {@link STREAM_DEPTH} ahead of the reader, issued only as it reads.
 * Errors of the open (`not_found`, `is_a_directory`, ...) reject this call; later ones error the
 * stream. Cancelling (or the signal) closes the handle, so the server stops reading.
 */
export function openSftpReadStream(
  session: SftpSession,
  path: string,
  signal: AbortSignal | undefined,
): Promise<ReadableStream<Uint8Array>> {
  const opening = deferred<ReadableStream<Uint8Array>>();
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let failed = false;
  // Until the stream is handed out, an abort rejects the call; from then on it errors the stream.
  let handedOut = false;
  const body = async (scope: SftpScope): Promise<void> => {
    // Run again only when the session closed before the stream was handed out (an idle close
    // racing the open); a stream that is being read cannot start over.
    if (handedOut) {
      throw new SandboxError(
        "connection_failed",
        `The SFTP session closed during readFileStream of ${path}.`,
        {
          details: { operation: "readFileStream", path },
        },
      );
    }
    const handle = await scope.call<Buffer>("open", (s, done) => s.open(path, "r", done), path);
    let closed = false;
    const closeHandle = (): void => {
      if (closed) return;
      closed = true;
      scope.call("close", (s, done) => s.close(handle, done), path).catch(() => {});
    };
    try {
      const attrs = await scope.call<Stats>("fstat", (s, done) => s.fstat(handle, done), path);
      if (isDirectoryMode(attrs.mode)) {
        throw new SandboxError("is_a_directory", `readFileStream: ${path} is a directory.`, {
          details: { path },
        });
      }
    } catch (error) {
      closeHandle();
      throw error;
    }
    const ended = deferred<void>();
    const readAt = (position: number, length: number): Promise<Buffer> => {
      const buffer = Buffer.allocUnsafe(length);
      const result = scope
        .call<number>(
          "read",
          (s, done) => s.read(handle, buffer, 0, length, position, (error, bytes) => done(error, bytes)),
          path,
        )
        .then(
          (got) => buffer.subarray(0, got),
          (error: unknown) => {
            if (isSandboxError(error) && error.details.sftpStatus === STATUS_CODE.EOF)
              return buffer.subarray(0, 0);
            throw error;
          },
        );
      result.catch(() => {});
      return result;
    };
    const ahead: Array<{ position: number; length: number; result: Promise<Buffer> }> = [];
    let next = 0;
    let eof = false;
    const fill = (): void => {
      while (!eof && ahead.length < STREAM_DEPTH) {
        ahead.push({ position: next, length: CHUNK_BYTES, result: readAt(next, CHUNK_BYTES) });
        next += CHUNK_BYTES;
      }
    };
    const finish = (error?: unknown): void => {
      eof = true;
      ahead.length = 0;
      closeHandle();
      stopListening();
      if (error === undefined) ended.resolve();
      else ended.reject(error);
    };
    const stopListening = onAbort(signal, (error) => {
      if (failed) return;
      failed = true;
      controller?.error(error);
      finish();
    });
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          controller = c;
        },
        pull: async (c) => {
          fill();
          const head = ahead.shift();
          if (!head) return;
          let data: Buffer;
          try {
            data = await head.result;
          } catch (error) {
            // Mapped by the session (a closed session is `connection_failed`), then errors the stream.
            if (!failed) finish(error);
            return;
          }
          if (failed) return;
          if (data.length === 0) {
            finish();
            c.close();
            return;
          }
          // A short read is not the end: the rest of its range is read before anything after it.
          if (data.length < head.length) {
            const position = head.position + data.length;
            const length = head.length - data.length;
            ahead.unshift({ position, length, result: readAt(position, length) });
          }
          c.enqueue(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        },
        cancel: () => {
          failed = true;
          finish();
        },
      },
      { highWaterMark: 0 },
    );
    handedOut = true;
    opening.resolve(stream);
    await ended.promise;
  };
  session.operation("readFileStream", body, { path, idempotent: true }).catch((error: unknown) => {
    if (controller && !failed) {
      failed = true;
      controller.error(error);
    }
    opening.reject(error);
  });
  return opening.promise;
}

/** Writes into a temp file that a caller renames into place once {@link TempWriter.finish} resolved. */
export interface TempWriter {
  /** Sends `chunk` at the next offset; resolves once fewer than {@link STREAM_DEPTH} writes are unanswered. */
  write(chunk: Uint8Array): Promise<void>;
  /** Waits for every write, sets the mode, closes the handle. */
  finish(): Promise<void>;
  /** Stops writing and closes the handle (the caller removes the file). */
  abandon(): void;
}

/**
 * Creates `temp` (`wx`: it must not exist) within one SFTP operation that lasts until the
 * writer finishes or is abandoned; every request carries the handle, so all go to that session.
 * Rejects when the open fails (`not_found` for a missing parent, `permission_denied`, ...).
 */
export function openTempWriter(
  session: SftpSession,
  temp: string,
  mode: number | undefined,
  operation: string,
): Promise<TempWriter> {
  const opening = deferred<TempWriter>();
  // The first failure wins; a write that fails ends the operation, whose mapped error (a closed
  // session is `connection_failed`) is then the one every later call sees.
  const failure = deferred<never>();
  let failed: unknown;
  const fail = (error: unknown): void => {
    if (failed !== undefined) return;
    failed = error;
    failure.reject(error);
  };
  const body = async (scope: SftpScope): Promise<void> => {
    const handle = await scope.call<Buffer>(
      "open",
      (s, done) => s.open(temp, "wx", mode === undefined ? {} : { mode }, done),
      temp,
    );
    const ended = deferred<void>();
    let done = false;
    const inFlight = new Set<Promise<void>>();
    let offset = 0;
    // One close per handle, ever: the server reuses handle numbers, so a second close could hit
    // a file that another call opened meanwhile.
    let closeSent = false;
    const closeOnce = (): Promise<unknown> => {
      if (closeSent) return Promise.resolve();
      closeSent = true;
      return scope.call("close", (s, cb) => s.close(handle, cb), temp);
    };
    const closeQuietly = (): void => {
      closeOnce().catch(() => {});
    };
    const check = (): void => {
      if (failed !== undefined) throw failed;
      if (done) throw new SandboxError("io_error", `${operation}: the stream is already closed.`);
    };
    opening.resolve({
      write: async (chunk) => {
        check();
        for (let start = 0; start < chunk.length; start += CHUNK_BYTES) {
          while (inFlight.size >= STREAM_DEPTH) await Promise.race([...inFlight, failure.promise]);
          check();
          // A copy: the caller may reuse its buffer once write() resolved, and ssh2 keeps a
          // reference when it splits a request for a server with a smaller limit.
          const piece = Buffer.from(chunk.subarray(start, Math.min(chunk.length, start + CHUNK_BYTES)));
          const at = offset;
          offset += piece.length;
          const request = scope
            .call("write", (s, cb) => s.write(handle, piece, 0, piece.length, at, cb), temp)
            .then(
              () => {
                inFlight.delete(request);
              },
              (error: unknown) => {
                inFlight.delete(request);
                closeQuietly();
                ended.reject(error);
              },
            );
          inFlight.add(request);
        }
      },
      finish: async () => {
        check();
        done = true;
        try {
          await Promise.race([Promise.all(inFlight), failure.promise]);
          if (failed !== undefined) throw failed;
          // The server's umask applied at open; set the mode exactly.
          if (mode !== undefined) await scope.call("fchmod", (s, cb) => s.fchmod(handle, mode, cb), temp);
          // Data reaches the file before close answers; only then may it be renamed into place.
          await closeOnce();
        } catch (error) {
          closeQuietly();
          ended.reject(error);
          await failure.promise;
        }
        ended.resolve();
      },
      abandon: () => {
        if (closeSent) return;
        done = true;
        fail(new SandboxError("aborted", `${operation} was abandoned.`));
        closeQuietly();
        ended.resolve();
      },
    });
    await ended.promise;
  };
  session.operation(operation, body, { path: temp }).catch((error: unknown) => {
    fail(error);
    opening.reject(error);
  });
  return opening.promise;
}
