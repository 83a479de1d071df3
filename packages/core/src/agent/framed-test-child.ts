// Test-only: one of core's in-VM perl programs (the agent, the process host) run locally as a
// child process (no SSH), with a frame-level client, so their tests exercise exactly the bytes a
// client sends. Both speak the same frames (PROTOCOL.md); only their type numbers differ.
import { type ChildProcess, spawn } from "node:child_process";
import { encodeFrame, type Field, FieldReader, type Frame, FrameDecoder } from "./protocol.js";

/** A request's final frame and every frame before it for its id. */
export interface FramedAnswer {
  frames: Frame[];
  last: Frame;
}

/** The frame types the client needs to know of the program it talks to. */
export interface FramedCodes {
  /** Who answers, for error messages ("agent", "host"). */
  name: string;
  hello: number;
  fatal: number;
  ok: number;
  err: number;
  /** The types that end a request. */
  final: ReadonlySet<number>;
}

/** How the child is started. */
export interface FramedStart {
  /** The program and its arguments. */
  command: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Bytes written before any frame (a bootstrap's source). @default none */
  preamble?: Buffer | undefined;
  /** Run as this user and group (the tests run as root). @default this process's */
  uid?: number | undefined;
  gid?: number | undefined;
}

/** Decodes an ERR payload. */
export function readErrFrame(frame: Frame): { errno: string; message: string } {
  const reader = new FieldReader(frame.payload);
  return { errno: reader.str(), message: reader.str() };
}

/** The program as a child process: ids, listeners, waits for a request's final frame. */
export class FramedTestChild<Hello> {
  readonly child: ChildProcess;
  readonly hello: Promise<Hello>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Frames for no request waiting (id 0 other than HELLO, or ids nobody asked about). */
  readonly stray: Frame[] = [];
  /** FATAL reasons received. */
  readonly fatal: string[] = [];
  /** Everything the program wrote on stderr. */
  stderr = "";
  private readonly decoder = new FrameDecoder();
  private readonly waiters = new Map<number, { frames: Frame[]; resolve: (answer: FramedAnswer) => void }>();
  private readonly listeners = new Map<number, (frame: Frame) => void>();
  private nextId = 1;
  private helloResolve!: (hello: Hello) => void;

  constructor(
    start: FramedStart,
    private readonly codes: FramedCodes,
    private readonly readHello: (reader: FieldReader) => Hello,
  ) {
    const [program, ...args] = start.command;
    this.child = spawn(program as string, args, {
      cwd: start.cwd,
      env: start.env,
      stdio: ["pipe", "pipe", "pipe"],
      ...(start.uid === undefined ? {} : { uid: start.uid, gid: start.gid }),
    });
    this.hello = new Promise((resolve) => {
      this.helloResolve = resolve;
    });
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => resolve({ code, signal }));
    });
    this.child.stdin?.on("error", () => {});
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString("utf8");
    });
    this.child.stdout?.on("data", (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) this.dispatch(frame);
    });
    if (start.preamble) this.child.stdin?.write(start.preamble);
  }

  /** A fresh request id. */
  id(): number {
    return this.nextId++;
  }

  /** Writes raw bytes to the program's stdin. */
  write(bytes: Buffer): void {
    this.child.stdin?.write(bytes);
  }

  /** Sends one frame. */
  send(type: number, id: number, fields: readonly Field[] = []): void {
    this.write(encodeFrame(type, id, fields));
  }

  /** Calls `listener` for every frame with `id` from now on (before its waiter sees it). */
  listen(id: number, listener: (frame: Frame) => void): void {
    this.listeners.set(id, listener);
  }

  /** Waits for the final frame of request `id`. Register before sending. */
  wait(id: number): Promise<FramedAnswer> {
    return new Promise((resolve) => this.waiters.set(id, { frames: [], resolve }));
  }

  /** Sends a request and waits for its final frame. */
  request(type: number, fields: readonly Field[] = [], id: number = this.id()): Promise<FramedAnswer> {
    const answer = this.wait(id);
    this.send(type, id, fields);
    return answer;
  }

  /** A request expected to answer OK: its payload, or the ERR's errno as an error. */
  async ok(type: number, fields: readonly Field[] = []): Promise<Buffer> {
    const { last } = await this.request(type, fields);
    if (last.type === this.codes.err)
      throw new Error(`${this.codes.name} answered ${readErrFrame(last).errno}`);
    if (last.type !== this.codes.ok) throw new Error(`${this.codes.name} answered type ${last.type}`);
    return last.payload;
  }

  /** A request expected to answer ERR: its errno (throws on anything else). */
  async err(type: number, fields: readonly Field[] = []): Promise<string> {
    const { last } = await this.request(type, fields);
    if (last.type !== this.codes.err)
      throw new Error(`${this.codes.name} answered type ${last.type}, not ERR`);
    return readErrFrame(last).errno;
  }

  /** Closes stdin (end of input) and waits for the program to exit. */
  async close(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.stdin?.end();
    return await this.exited;
  }

  /** Kills the program (test clean-up). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }

  private dispatch(frame: Frame): void {
    if (frame.type === this.codes.hello) {
      this.helloResolve(this.readHello(new FieldReader(frame.payload)));
      return;
    }
    if (frame.type === this.codes.fatal) {
      this.fatal.push(new FieldReader(frame.payload).str());
      return;
    }
    this.listeners.get(frame.id)?.(frame);
    const waiter = this.waiters.get(frame.id);
    if (!waiter) {
      this.stray.push(frame);
      return;
    }
    waiter.frames.push(frame);
    if (this.codes.final.has(frame.type)) {
      this.waiters.delete(frame.id);
      waiter.resolve({ frames: waiter.frames, last: frame });
    }
  }
}
