import type { Client, ClientChannel } from "ssh2";
import type { ChannelSlots } from "../ssh/channel-slots.js";
import { openExec } from "../ssh/channels.js";
import { onAbort } from "../ssh/file-abort.js";
import { agentStartCommand } from "./agent-source.js";
import {
  encodeFrame,
  type Field,
  FieldReader,
  type Frame,
  FrameDecoder,
  PROTOCOL_VERSION,
  Reply,
  Request,
} from "./protocol.js";

/** How long the agent may take to say HELLO once its channel is open. */
const HELLO_TIMEOUT_MS = 15_000;
/** Kept from the agent's stderr, for the reason it could not start. */
const STDERR_TAIL_BYTES = 2048;

/** The agent cannot run on this machine (no perl, or it did not start): use the channels. */
export class AgentUnavailable extends Error {}

/** The agent's channel closed while a request was in flight. */
export class AgentLost extends Error {}

/** An `ERR` answer: the errno name and the agent's message. */
export class AgentErrorReply extends Error {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(message);
  }
}

/** Receives the frames of one request until it is finished. */
export interface RequestHandler {
  onFrame(frame: Frame): void;
  /** The channel closed before the request finished. */
  onLost(): void;
}

type RequestType = (typeof Request)[keyof typeof Request];

/**
 * One running agent on one SSH channel of one connection: sends requests, routes each answer
 * frame to its request by id. Closing the channel (or losing the connection) makes the agent
 * kill everything it started (PROTOCOL.md, "End of input").
 */
export class AgentSession {
  readonly home: string;
  readonly pid: number;
  readonly #channel: ClientChannel;
  readonly #handlers = new Map<number, RequestHandler>();
  readonly #closedListeners = new Set<() => void>();
  #nextId = 1;
  #closed = false;

  private constructor(
    readonly client: Client,
    channel: ClientChannel,
    hello: { home: string; pid: number },
  ) {
    this.#channel = channel;
    this.home = hello.home;
    this.pid = hello.pid;
  }

  /**
   * Starts the agent on `client`. Rejects with {@link AgentUnavailable} when it cannot run here;
   * with the channel layer's errors (the connection went, channels refused) otherwise.
   */
  static async start(
    client: Client,
    isCurrent: () => boolean,
    slots: ChannelSlots,
    commandLineLimitBytes: number,
  ): Promise<AgentSession> {
    const { line, stdinPrefix } = agentStartCommand(commandLineLimitBytes);
    const permit = await slots.acquireWork();
    let channel: ClientChannel;
    try {
      ({ channel } = await openExec(client, isCurrent, line));
    } catch (error) {
      permit.release();
      throw error;
    }
    permit.opened();
    channel.once("close", () => permit.release());
    if (stdinPrefix) channel.write(stdinPrefix);
    const decoder = new FrameDecoder();
    let stderrTail = Buffer.alloc(0);
    channel.stderr.on("data", (chunk: Buffer) => {
      stderrTail = Buffer.concat([stderrTail, chunk]).subarray(-STDERR_TAIL_BYTES);
    });
    // Everything up to HELLO is read here; the session takes the stream over from then on.
    const { hello, rest } = await new Promise<{ hello: Frame; rest: Frame[] }>((resolve, reject) => {
      const fail = (reason: string): void => {
        cleanup();
        channel.close();
        reject(new AgentUnavailable(reason));
      };
      const onData = (chunk: Buffer): void => {
        let frames: Frame[];
        try {
          frames = decoder.push(chunk);
        } catch {
          fail("the agent's first output is not a protocol frame");
          return;
        }
        const [first, ...others] = frames;
        if (!first) return;
        if (first.type !== Reply.HELLO) {
          fail("the agent did not start with HELLO");
          return;
        }
        cleanup();
        resolve({ hello: first, rest: others });
      };
      const onClose = (): void => {
        const said = stderrTail.toString("utf8").trim().split("\n").at(-1) ?? "";
        fail(`the agent exited before it said HELLO${said ? ` (${said.slice(0, 200)})` : ""}`);
      };
      const timer = setTimeout(
        () => fail(`no HELLO from the agent within ${HELLO_TIMEOUT_MS} ms`),
        HELLO_TIMEOUT_MS,
      );
      const cleanup = (): void => {
        clearTimeout(timer);
        channel.removeListener("data", onData);
        channel.removeListener("close", onClose);
      };
      channel.on("data", onData);
      channel.once("close", onClose);
    });
    const reader = new FieldReader(hello.payload);
    const version = reader.u32();
    const pid = reader.u32();
    const home = reader.str();
    if (version !== PROTOCOL_VERSION) {
      channel.close();
      throw new AgentUnavailable(`the agent speaks protocol ${version}, not ${PROTOCOL_VERSION}`);
    }
    const session = new AgentSession(client, channel, { home, pid });
    session.#listen(decoder, rest);
    return session;
  }

  /** Whether the channel is still open. */
  get alive(): boolean {
    return !this.#closed;
  }

  /** Requests in flight (for tests). */
  get inFlight(): number {
    return this.#handlers.size;
  }

  /** Reserves an id and routes its frames to `handler` until {@link finish}. */
  open(handler: RequestHandler): number {
    if (this.#closed) throw new AgentLost("the agent's channel is closed");
    let id = this.#nextId;
    while (id === 0 || this.#handlers.has(id)) id = (id + 1) >>> 0;
    this.#nextId = (id + 1) >>> 0;
    this.#handlers.set(id, handler);
    return id;
  }

  /** Stops routing `id`'s frames (its request is done). */
  finish(id: number): void {
    this.#handlers.delete(id);
  }

  /** Stops waiting for request `id` and tells the agent to drop it (KILL), without waiting. */
  cancel(id: number): void {
    this.finish(id);
    this.send(Request.KILL, id);
  }

  /** Sends one frame; false when the channel's buffer is full (wait for {@link drained}). */
  send(type: RequestType, id: number, fields: readonly Field[] = []): boolean {
    if (this.#closed) return true;
    return this.#channel.write(encodeFrame(type, id, fields));
  }

  /** Resolves once the channel can take more data (or closed). */
  drained(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#channel.removeListener("drain", done);
        this.#closedListeners.delete(done);
        resolve();
      };
      this.#channel.once("drain", done);
      this.#closedListeners.add(done);
    });
  }

  /**
   * One request whose answer is `OK` (resolves with its payload) or `ERR` (rejects with
   * {@link AgentErrorReply}); `DATA` frames go to `onData`. Rejects with {@link AgentLost} when
   * the channel closes first.
   */
  call(
    type: RequestType,
    fields: readonly Field[],
    options: {
      onData?: (chunk: Buffer) => void;
      input?: Uint8Array | AsyncIterable<Uint8Array>;
      signal?: AbortSignal;
    } = {},
  ): Promise<FieldReader> {
    return new Promise((resolve, reject) => {
      let id: number;
      let stopListening = (): void => {};
      try {
        id = this.open({
          onFrame: (frame) => {
            if (frame.type === Reply.DATA) {
              options.onData?.(frame.payload);
              return;
            }
            stopListening();
            this.finish(id);
            if (frame.type === Reply.OK) resolve(new FieldReader(frame.payload));
            else if (frame.type === Reply.ERR) {
              const reader = new FieldReader(frame.payload);
              reject(new AgentErrorReply(reader.str(), reader.str()));
            } else reject(new AgentErrorReply("EPROTO", `unexpected answer type ${frame.type}`));
          },
          onLost: () => {
            stopListening();
            reject(new AgentLost("the agent's channel closed"));
          },
        });
      } catch (error) {
        reject(error);
        return;
      }
      // An abort cancels the request on the agent (a READ stops, a WRITE's temp file goes) and
      // rejects at once: the KILL is only queued, so a frozen channel does not hold the caller.
      stopListening = onAbort(options.signal, (error) => {
        if (!this.#handlers.has(id)) return;
        this.cancel(id);
        reject(error);
      });
      this.send(type, id, fields);
      if (options.input) {
        this.sendInput(id, options.input).catch((error: unknown) => {
          this.finish(id);
          reject(error);
        });
      }
    });
  }

  /**
   * Sends `data` as INPUT frames, then the empty INPUT that ends it, minding the channel's
   * window. When reading `data` fails, the request is cancelled (KILL) and the error thrown:
   * the agent then drops what it received (a WRITE's temp file is removed, never renamed).
   */
  async sendInput(id: number, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    const chunks = data instanceof Uint8Array ? [data] : data;
    try {
      for await (const piece of chunks) {
        for (let offset = 0; offset < piece.length; offset += INPUT_CHUNK_BYTES) {
          if (this.#closed || !this.#handlers.has(id)) return;
          const chunk = piece.subarray(offset, Math.min(piece.length, offset + INPUT_CHUNK_BYTES));
          if (!this.send(Request.INPUT, id, [{ bytes: chunk }])) await this.drained();
        }
      }
    } catch (error) {
      this.send(Request.KILL, id);
      throw error;
    }
    this.send(Request.INPUT, id, []);
  }

  /** Calls `listener` once the channel has closed. */
  onClosed(listener: () => void): () => void {
    if (this.#closed) {
      queueMicrotask(listener);
      return () => {};
    }
    this.#closedListeners.add(listener);
    return () => this.#closedListeners.delete(listener);
  }

  /** Ends the agent's input: it kills what it started and exits; the channel then closes. */
  close(): void {
    if (this.#closed) return;
    this.#channel.end();
    // A server that never closes the channel must not keep it (and its slot) for ever.
    const timer = setTimeout(() => this.#channel.close(), 5_000);
    timer.unref();
    this.#channel.once("close", () => clearTimeout(timer));
  }

  #listen(decoder: FrameDecoder, early: Frame[]): void {
    const dispatch = (frame: Frame): void => {
      if (frame.type === Reply.FATAL) {
        this.#channel.close();
        return;
      }
      this.#handlers.get(frame.id)?.onFrame(frame);
    };
    for (const frame of early) dispatch(frame);
    this.#channel.on("data", (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch {
        // The stream cannot be trusted past a bad frame.
        this.#channel.close();
        return;
      }
      for (const frame of frames) dispatch(frame);
    });
    this.#channel.on("error", () => {
      // Reported through `close`.
    });
    this.#channel.once("close", () => {
      this.#closed = true;
      const handlers = [...this.#handlers.values()];
      this.#handlers.clear();
      for (const handler of handlers) handler.onLost();
      for (const listener of [...this.#closedListeners]) listener();
      this.#closedListeners.clear();
    });
  }
}

/** INPUT chunk size: under the frame limit, big enough that the per-frame cost is noise. */
const INPUT_CHUNK_BYTES = 256 * 1024;
