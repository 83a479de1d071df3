import { randomBytes } from "node:crypto";
import { encodeFrame, type Field, FieldReader, type Frame, FrameDecoder } from "../agent/protocol.js";
import { SandboxError } from "../errors.js";
import type { ExecContext } from "../ssh/exec.js";
import { type LiveCommand, startLiveCommand } from "../ssh/live-command.js";
import { buildRemoteCommand } from "../ssh/remote-command.js";
import { shellQuote } from "../ssh/shell-quote.js";
import { HOST_PROTOCOL_VERSION, HostReply, HostRequest, type HostRequestType } from "./host-protocol.js";
import { PROC_HOST_SOURCE } from "./proc-host-source.js";

/** How long the host may take to say HELLO once it was started. */
const HELLO_TIMEOUT_MS = 15_000;
/**
 * Longest start line sent with the source inline. SSH servers built on ssh2 (the emulator, which
 * says it is OpenSSH) drop the connection on a packet over 35,000 bytes, and the host's source,
 * quoted three times by the wrapper, is over that; longer lines use the stdin bootstrap.
 */
const MAX_INLINE_LINE_BYTES = 32 * 1024;
/** Kept from the host's stderr, for the reason it could not start. */
const STDERR_TAIL_BYTES = 2048;

/** An `ERR` answer of the host: the errno name and its message. */
export class HostErrorReply extends Error {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(message);
  }
}

/** The host's command ended (the sandbox closed, the connection or the agent went). */
export class HostLost extends Error {}

/** Receives the frames of one request until it is finished. */
/** A FOLLOW sent ahead of its SPAWN's answer ({@link HostLink.followEarly}). */
export interface EarlyFollow {
  /** Its request id. */
  id: number;
  /** Routes its frames (those already come first) to `handler`. */
  attach(handler: HostHandler): void;
  /** Forgets it (its SPAWN failed: the host answers it ENOENT). */
  drop(): void;
}

export interface HostHandler {
  onFrame(frame: Frame): void;
  /** The host went before the request finished. */
  onLost(): void;
}

/** The command that starts the host, and bytes to write first on its stdin (if any). */
function hostStart(tag: string, limitBytes: number): { command: string; stdinPrefix: Buffer | undefined } {
  const inline = `exec perl -e ${shellQuote(PROC_HOST_SOURCE)}`;
  const line = buildRemoteCommand(inline, undefined, undefined, tag);
  if (Buffer.byteLength(line) <= Math.min(limitBytes, MAX_INLINE_LINE_BYTES)) {
    return { command: inline, stdinPrefix: undefined };
  }
  // Too long for the server's command line (Dropbear) or packet: the agent's bootstrap, reading the source
  // from stdin with sysread so no frame after it is buffered away.
  const bytes = Buffer.from(PROC_HOST_SOURCE, "utf8");
  const bootstrap = `my ($n, $s) = (${bytes.length}, ""); while (length($s) < $n) { sysread(STDIN, $s, $n - length($s), length($s)) or exit 97 } eval $s; die $@ if $@; exit 0`;
  return { command: `exec perl -e ${shellQuote(bootstrap)}`, stdinPrefix: bytes };
}

/** One running host: sends requests and routes each answer frame to its request by id. */
export class HostLink {
  readonly #handlers = new Map<number, HostHandler>();
  #nextId = 1;
  #alive = true;

  private constructor(
    private readonly live: LiveCommand,
    /** The host's tag: non-detached processes carry `<tag>.<id>`. */
    readonly tag: string,
    readonly stateDir: string,
  ) {}

  /**
   * Starts a host as a live command. Rejects with `unsupported` when it cannot run on the VM (no
   * perl), with the transport's errors otherwise.
   */
  static async start(context: ExecContext): Promise<HostLink> {
    const tag = `exedev-run-${randomBytes(9).toString("hex")}`;
    const { command, stdinPrefix } = hostStart(tag, context.commandLineLimit());
    const decoder = new FrameDecoder();
    let stderrTail = Buffer.alloc(0);
    let link: HostLink | undefined;
    let early: Frame[] = [];
    let broken = false;
    let onEarly = (): void => {};
    const live = await startLiveCommand(context, command, {
      tag,
      onStdout: (chunk) => {
        if (broken) return;
        let frames: Frame[];
        try {
          frames = decoder.push(chunk);
        } catch {
          // The stream cannot be trusted past a bad frame.
          broken = true;
          live.kill();
          return;
        }
        if (link) for (const frame of frames) link.#dispatch(frame);
        else {
          early.push(...frames);
          onEarly();
        }
      },
      onStderr: (chunk) => {
        stderrTail = Buffer.concat([stderrTail, chunk]).subarray(-STDERR_TAIL_BYTES);
      },
    });
    if (stdinPrefix) live.write(stdinPrefix).catch(() => {});
    const hello = await new Promise<Frame>((resolve, reject) => {
      const fail = (reason: string, code: "unsupported" | "channel_failed" = "channel_failed"): void => {
        clearTimeout(timer);
        live.kill();
        reject(new SandboxError(code, `The process host could not start: ${reason}.`));
      };
      const timer = setTimeout(() => fail(`no HELLO within ${HELLO_TIMEOUT_MS} ms`), HELLO_TIMEOUT_MS);
      onEarly = () => {
        const first = early[0];
        if (!first) return;
        clearTimeout(timer);
        if (first.type !== HostReply.HELLO) fail("it did not start with HELLO");
        else resolve(first);
      };
      void live.exit.then((code) => {
        const said = stderrTail.toString("utf8").trim().split("\n").at(-1) ?? "";
        const why = `it exited${code === undefined ? "" : ` with ${code}`} before HELLO${said ? ` (${said.slice(0, 200)})` : ""}`;
        // 127: no perl on the VM; the processes API cannot work there.
        fail(why, code === 127 ? "unsupported" : "channel_failed");
      });
    });
    const reader = new FieldReader(hello.payload);
    const version = reader.u32();
    reader.u32(); // the host's pid
    const stateDir = reader.str();
    const helloTag = reader.str();
    if (version !== HOST_PROTOCOL_VERSION) {
      live.kill();
      throw new SandboxError(
        "unsupported",
        `The process host speaks protocol ${version}, not ${HOST_PROTOCOL_VERSION}.`,
      );
    }
    link = new HostLink(live, helloTag || tag, stateDir);
    const started = link;
    for (const frame of early.slice(1)) started.#dispatch(frame);
    early = [];
    void live.exit.then(() => started.#lose());
    return started;
  }

  /** Whether the host still runs. */
  get alive(): boolean {
    return this.#alive;
  }

  /** Reserves an id and routes its frames to `handler` until {@link finish}. */
  open(handler: HostHandler): number {
    if (!this.#alive) throw new HostLost("the process host is gone");
    let id = this.#nextId;
    while (id === 0 || this.#handlers.has(id)) id = (id + 1) >>> 0;
    this.#nextId = (id + 1) >>> 0;
    this.#handlers.set(id, handler);
    return id;
  }

  /**
   * Sends a FOLLOW of process `processId` from offset 0 now, before the process's SPAWN is
   * answered (the host holds it until the keeper has reported), so the first output comes back
   * one round trip after the SPAWN went. Its frames wait until a handler is attached.
   */
  followEarly(processId: string): EarlyFollow {
    const early: Frame[] = [];
    let lost = false;
    let route: HostHandler | undefined;
    const id = this.open({
      onFrame: (frame) => {
        if (route) route.onFrame(frame);
        else early.push(frame);
      },
      onLost: () => {
        if (route) route.onLost();
        else lost = true;
      },
    });
    this.send(HostRequest.FOLLOW, id, [{ str: processId }, { u64: 0 }, { u64: 0 }]).catch(() => {});
    return {
      id,
      attach: (handler) => {
        route = handler;
        for (const frame of early.splice(0)) handler.onFrame(frame);
        if (lost) handler.onLost();
      },
      drop: () => this.finish(id),
    };
  }

  /** Stops routing `id`'s frames. */
  finish(id: number): void {
    this.#handlers.delete(id);
  }

  /** Sends one frame; resolves once the transport took it. */
  send(type: HostRequestType, id: number, fields: readonly Field[] = []): Promise<void> {
    if (!this.#alive) return Promise.reject(new HostLost("the process host is gone"));
    return this.live.write(encodeFrame(type, id, fields));
  }

  /**
   * One request answered by `answer` (`OK` unless given; resolves with its payload) or `ERR` (rejects with
   * {@link HostErrorReply}); other frames go to `onFrame`. Rejects with {@link HostLost} when
   * the host goes first.
   */
  call(
    type: HostRequestType,
    fields: readonly Field[],
    onFrame?: (frame: Frame) => void,
    answer: number = HostReply.OK,
  ): Promise<FieldReader> {
    return new Promise((resolve, reject) => {
      let id: number;
      try {
        id = this.open({
          onFrame: (frame) => {
            if (frame.type === answer) {
              this.finish(id);
              resolve(new FieldReader(frame.payload));
            } else if (frame.type === HostReply.ERR) {
              this.finish(id);
              const reader = new FieldReader(frame.payload);
              reject(new HostErrorReply(reader.str(), reader.str()));
            } else onFrame?.(frame);
          },
          onLost: () => reject(new HostLost("the process host is gone")),
        });
      } catch (error) {
        reject(error);
        return;
      }
      this.send(type, id, fields).catch(() => {
        // The host's exit reports it (onLost).
      });
    });
  }

  /** Ends the host's input: it kills the non-detached processes it spawned and exits. */
  close(): void {
    if (!this.#alive) return;
    this.live.end();
    // A host that does not exit must not keep its channel (and slot) for ever.
    const timer = setTimeout(() => this.live.kill(), 5_000);
    timer.unref();
    void this.live.exit.then(() => clearTimeout(timer));
  }

  #dispatch(frame: Frame): void {
    if (frame.type === HostReply.FATAL) {
      this.live.kill();
      return;
    }
    this.#handlers.get(frame.id)?.onFrame(frame);
  }

  #lose(): void {
    this.#alive = false;
    const handlers = [...this.#handlers.values()];
    this.#handlers.clear();
    for (const handler of handlers) handler.onLost();
  }
}

/**
 * The sandbox's process host: started on first use, started again when it went (a lost
 * connection, a dead agent), ended with the sandbox.
 */
export class ProcessHost {
  #link: HostLink | undefined;
  #starting: Promise<HostLink> | undefined;
  #closed = false;

  constructor(private readonly context: () => ExecContext) {}

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The running host, starting one when needed. */
  async link(): Promise<HostLink> {
    if (this.#closed) throw new SandboxError("closed", "The sandbox is closed.");
    if (this.#link?.alive) return this.#link;
    if (!this.#starting) {
      const starting = HostLink.start(this.context());
      this.#starting = starting;
      starting.then(
        (link) => {
          if (this.#starting === starting) this.#starting = undefined;
          this.#link = link;
          if (this.#closed) link.close();
        },
        () => {
          if (this.#starting === starting) this.#starting = undefined;
        },
      );
    }
    const link = await this.#starting;
    if (this.#closed) throw new SandboxError("closed", "The sandbox is closed.");
    return link;
  }

  /** Ends the host (non-detached processes die with it); later calls reject with `closed`. */
  close(): void {
    this.#closed = true;
    this.#link?.close();
  }
}
