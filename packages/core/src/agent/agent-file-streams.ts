import { invalidArgument, type SandboxError } from "../errors.js";
import { onAbort, onStreamAbort } from "../ssh/file-abort.js";
import { AgentErrorReply, AgentLost, type AgentSession } from "./agent-session.js";
import { type Field, FieldReader, NO_MODE, Reply, Request } from "./protocol.js";

/**
 * Bytes a stream's reader may have unread: the agent sends no more until it reads (READ_STREAM's
 * window). Four DATA frames: enough to keep a 20 ms round trip busy at ~50 MB/s.
 */
export const READ_STREAM_WINDOW_BYTES: number = 1024 * 1024;
/** INPUT frame of a write stream; the agent's own limit is 1 MiB a frame. */
const WRITE_STREAM_CHUNK_BYTES = 256 * 1024;

/** How a stream turns the agent's answers into SandboxErrors. */
export interface StreamErrors {
  /** An `ERR` answer. */
  reply(error: AgentErrorReply): SandboxError;
  /** The agent's channel closed under the stream. */
  lost(): Promise<SandboxError>;
}

function replyError(payload: Buffer): AgentErrorReply {
  try {
    const reader = new FieldReader(payload);
    return new AgentErrorReply(reader.str(), reader.str());
  } catch {
    return new AgentErrorReply("EPROTO", "malformed ERR");
  }
}

/**
 * Opens `path` with READ_STREAM and resolves with its content as a web stream once the first
 * answer frame tells that the file is open; rejects with the mapped `ERR` (or
 * {@link AgentLost}) otherwise. The agent reads ahead at most {@link READ_STREAM_WINDOW_BYTES}:
 * each chunk the reader takes is acknowledged (ACK), and only then does more come.
 */
export function openReadStream(
  session: AgentSession,
  path: string,
  signal: AbortSignal | undefined,
  errors: StreamErrors,
): Promise<ReadableStream<Uint8Array>> {
  return new Promise((resolveOpen, rejectOpen) => {
    const queue: Buffer[] = [];
    let opened = false;
    let inFlight = true;
    let ended = false;
    let failed = false;
    let wake: (() => void) | undefined;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const stopListening = onAbort(signal, (error) => fail(error, true));

    const settleOpen = (error?: unknown): void => {
      if (opened) return;
      opened = true;
      if (error === undefined) resolveOpen(stream);
      else {
        stopListening();
        rejectOpen(error);
      }
    };
    const stop = (): void => {
      if (!inFlight) return;
      inFlight = false;
      session.cancel(id);
    };
    function fail(error: unknown, cancel: boolean): void {
      if (failed || ended) return;
      failed = true;
      stopListening();
      if (cancel) stop();
      queue.length = 0;
      if (!opened) settleOpen(error);
      else controller.error(error);
      wake?.();
    }

    const id = session.open({
      onFrame: (frame) => {
        if (frame.type === Reply.DATA) {
          queue.push(frame.payload);
          settleOpen();
        } else {
          inFlight = false;
          session.finish(id);
          if (frame.type === Reply.OK) {
            ended = true;
            stopListening();
            settleOpen();
          } else {
            const reply =
              frame.type === Reply.ERR
                ? replyError(frame.payload)
                : new AgentErrorReply("EPROTO", `unexpected answer type ${frame.type}`);
            // Before the stream exists the caller maps (and may retry); after, the stream errors.
            fail(opened ? errors.reply(reply) : reply, false);
          }
        }
        wake?.();
      },
      onLost: () => {
        inFlight = false;
        if (!opened) fail(new AgentLost("the agent's channel closed"), false);
        else void errors.lost().then((error) => fail(error, false));
      },
    });

    const stream = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          controller = c;
        },
        pull: async (c) => {
          while (queue.length === 0 && !ended && !failed) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
          }
          if (failed) return;
          const chunk = queue.shift();
          if (chunk) {
            c.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
            if (inFlight) session.send(Request.ACK, id, [{ u32: chunk.length }]);
            return;
          }
          c.close();
        },
        cancel: () => {
          failed = true;
          stopListening();
          queue.length = 0;
          stop();
        },
      },
      // Nothing is pulled before the reader asks: the agent's window is the only read-ahead.
      { highWaterMark: 0 },
    );

    session.send(Request.READ_STREAM, id, [{ str: path }, { u32: READ_STREAM_WINDOW_BYTES }]);
  });
}

/**
 * Starts a WRITE of `path` and resolves with a web stream for its content once the agent has
 * the temp file open (a PING sent after the WRITE is answered after any `ERR` of its opening).
 * `close()` sends the empty INPUT and resolves after the rename; `abort()`, an error or the
 * signal cancel the WRITE (KILL), and the agent removes the temp file.
 */
export function openWriteStream(
  session: AgentSession,
  path: string,
  mode: number | undefined,
  signal: AbortSignal | undefined,
  errors: StreamErrors,
): Promise<WritableStream<Uint8Array>> {
  return new Promise((resolveOpen, rejectOpen) => {
    let opened = false;
    let inFlight = true;
    let failure: unknown;
    let controller: WritableStreamDefaultController | undefined;
    let resolveDone!: () => void;
    let rejectFailed!: (error: unknown) => void;
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    // Rejects the moment the stream fails, so no write waits on a channel that stopped moving.
    const failed = new Promise<never>((_, reject) => {
      rejectFailed = reject;
    });
    failed.catch(() => {});
    const stopListening = onAbort(signal, (error) => fail(error, true));

    const stop = (): void => {
      if (!inFlight) return;
      inFlight = false;
      session.cancel(id);
    };
    function fail(error: unknown, cancel: boolean): void {
      if (failure !== undefined) return;
      failure = error;
      stopListening();
      if (cancel) stop();
      rejectFailed(error);
      if (!opened) {
        opened = true;
        rejectOpen(error);
      } else controller?.error(error);
    }

    const id = session.open({
      onFrame: (frame) => {
        inFlight = false;
        session.finish(id);
        if (frame.type === Reply.OK) {
          stopListening();
          resolveDone();
          return;
        }
        const reply =
          frame.type === Reply.ERR
            ? replyError(frame.payload)
            : new AgentErrorReply("EPROTO", `unexpected answer type ${frame.type}`);
        fail(opened ? errors.reply(reply) : reply, false);
      },
      onLost: () => {
        inFlight = false;
        if (!opened) fail(new AgentLost("the agent's channel closed"), false);
        else void errors.lost().then((error) => fail(error, false));
      },
    });
    const fields: Field[] = [{ str: path }, { u32: mode ?? NO_MODE }];
    session.send(Request.WRITE, id, fields);

    const stream = new WritableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        onStreamAbort(c, (reason) => {
          // The stream is aborting already: erroring it too would make `abort()` reject.
          controller = undefined;
          fail(reason, true);
        });
      },
      write: async (chunk) => {
        if (failure !== undefined) throw failure;
        if (!(chunk instanceof Uint8Array)) {
          const error = invalidArgument("writeFileStream chunks must be Uint8Arrays.");
          fail(error, true);
          throw error;
        }
        for (let offset = 0; offset < chunk.length; offset += WRITE_STREAM_CHUNK_BYTES) {
          const piece = chunk.subarray(offset, Math.min(chunk.length, offset + WRITE_STREAM_CHUNK_BYTES));
          if (!session.send(Request.INPUT, id, [{ bytes: piece }])) {
            await Promise.race([session.drained(), failed]);
          }
          if (failure !== undefined) throw failure;
        }
      },
      close: async () => {
        if (failure !== undefined) throw failure;
        session.send(Request.INPUT, id, []);
        await Promise.race([done, failed]);
      },
      abort: () => {
        failure ??= new Error("aborted by the writer");
        stopListening();
        stop();
      },
    });

    const pingId = session.open({
      onFrame: () => {
        session.finish(pingId);
        if (opened || failure !== undefined) return;
        opened = true;
        resolveOpen(stream);
      },
      onLost: () => {},
    });
    session.send(Request.PING, pingId, []);
  });
}
