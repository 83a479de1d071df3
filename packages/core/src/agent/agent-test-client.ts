// Test-only: runs the real agent.pl locally (no SSH) and speaks its frames, so the agent's tests
// exercise exactly the bytes a client would send.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import {
  encodeFrame,
  type Field,
  FieldReader,
  type Frame,
  FrameDecoder,
  NO_MODE,
  Reply,
  Request,
} from "./protocol.js";

/** The agent's source, as core sends it. */
export const AGENT_SOURCE: string = readFileSync(new URL("./agent.pl", import.meta.url), "utf8");

/** How to start a test agent. */
export interface TestAgentOptions {
  /** Working directory (the "home"). */
  cwd: string;
  /** The whole environment. @default HOME=cwd, SHELL=/bin/bash, PATH from this process */
  env?: NodeJS.ProcessEnv;
  /** The program and arguments. @default perl -e AGENT_SOURCE */
  command?: readonly string[];
  /** Bytes written before any frame (a bootstrap's source). @default none */
  preamble?: Buffer;
  /** Run as this user (the test runs as root). @default this process's user */
  uid?: number;
  /** With `uid`: the group. @default this process's group */
  gid?: number;
}

/** HELLO's fields. */
export interface Hello {
  version: number;
  pid: number;
  home: string;
  shell: string;
}

/** A request's final frame (OK, ERR, EXIT or FATAL) and every frame before it for its id. */
export interface Answer {
  frames: Frame[];
  last: Frame;
}

/** EXEC's outcome. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  /** 0: exited, 1: killed by a signal; undefined when the agent answered ERR. */
  kind?: number;
  value?: number;
  errno?: string;
  /** When the EXIT arrived (performance.now()). */
  atMs: number;
}

const FINAL = new Set<number>([Reply.OK, Reply.ERR, Reply.EXIT]);

/** Decodes an ERR payload. */
export function readErr(frame: Frame): { errno: string; message: string } {
  const reader = new FieldReader(frame.payload);
  return { errno: reader.str(), message: reader.str() };
}

/** The agent as a child process, with a frame-level client. */
export class TestAgent {
  readonly child: ChildProcess;
  readonly hello: Promise<Hello>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Frames for no request waiting (id 0 other than HELLO, or ids nobody asked about). */
  readonly stray: Frame[] = [];
  /** FATAL reasons received. */
  readonly fatal: string[] = [];
  /** Everything the agent wrote on stderr. */
  stderr = "";
  private readonly decoder = new FrameDecoder();
  private readonly waiters = new Map<number, { frames: Frame[]; resolve: (answer: Answer) => void }>();
  private readonly listeners = new Map<number, (frame: Frame) => void>();
  private nextId = 1;
  private helloResolve!: (hello: Hello) => void;

  constructor(options: TestAgentOptions) {
    const [program, ...args] = options.command ?? ["perl", "-e", AGENT_SOURCE];
    this.child = spawn(program as string, args, {
      cwd: options.cwd,
      env: options.env ?? { HOME: options.cwd, SHELL: "/bin/bash", PATH: process.env.PATH },
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
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
    if (options.preamble) this.child.stdin?.write(options.preamble);
  }

  /** A fresh request id. */
  id(): number {
    return this.nextId++;
  }

  /** Writes raw bytes to the agent's stdin. */
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
  wait(id: number): Promise<Answer> {
    return new Promise((resolve) => this.waiters.set(id, { frames: [], resolve }));
  }

  /** Sends a request and waits for its final frame. */
  request(type: number, fields: readonly Field[] = [], id: number = this.id()): Promise<Answer> {
    const answer = this.wait(id);
    this.send(type, id, fields);
    return answer;
  }

  /** A request expected to answer OK: its payload, or the ERR's errno as an error. */
  async ok(type: number, fields: readonly Field[] = []): Promise<Buffer> {
    const { last } = await this.request(type, fields);
    if (last.type === Reply.ERR) throw new Error(`agent answered ${readErr(last).errno}`);
    if (last.type !== Reply.OK) throw new Error(`agent answered type ${last.type}`);
    return last.payload;
  }

  /** A request expected to answer ERR: its errno (throws on OK). */
  async err(type: number, fields: readonly Field[] = []): Promise<string> {
    const { last } = await this.request(type, fields);
    if (last.type !== Reply.ERR) throw new Error(`agent answered type ${last.type}, not ERR`);
    return readErr(last).errno;
  }

  /** Starts a command; returns its id and its outcome. */
  startExec(
    line: string,
    options: { tag?: string; killScript?: string; stdin?: string | Buffer; keepStdinOpen?: boolean } = {},
  ): { id: number; result: Promise<ExecResult> } {
    const id = this.id();
    const answer = this.wait(id);
    const pipe = options.stdin !== undefined || options.keepStdinOpen === true;
    this.send(Request.EXEC, id, [
      { str: line },
      { str: options.tag ?? `t${id}` },
      { str: options.killScript ?? "" },
      { u32: pipe ? 1 : 0 },
    ]);
    const input = Buffer.from(options.stdin ?? "");
    for (let offset = 0; offset < input.length; offset += 1024 * 1024) {
      this.send(Request.INPUT, id, [{ bytes: input.subarray(offset, offset + 1024 * 1024) }]);
    }
    if (options.stdin !== undefined && !options.keepStdinOpen) this.send(Request.INPUT, id, []);
    const result = answer.then(({ frames, last }) => {
      const text = (type: number) =>
        Buffer.concat(frames.filter((frame) => frame.type === type).map((frame) => frame.payload)).toString(
          "utf8",
        );
      const outcome: ExecResult = {
        stdout: text(Reply.STDOUT),
        stderr: text(Reply.STDERR),
        atMs: performance.now(),
      };
      if (last.type === Reply.EXIT) {
        outcome.kind = last.payload.readUInt32BE(0);
        outcome.value = last.payload.readUInt32BE(4);
      } else {
        outcome.errno = readErr(last).errno;
      }
      return outcome;
    });
    return { id, result };
  }

  /** Runs a command to its end. */
  exec(
    line: string,
    options: { tag?: string; killScript?: string; stdin?: string | Buffer } = {},
  ): Promise<ExecResult> {
    return this.startExec(line, options).result;
  }

  /** Writes a file in one go (WRITE, one INPUT, the empty INPUT). */
  async writeFile(path: string, data: string | Buffer, mode: number = NO_MODE): Promise<Answer> {
    const id = this.id();
    const answer = this.wait(id);
    this.send(Request.WRITE, id, [{ str: path }, { u32: mode }]);
    const bytes = Buffer.from(data);
    for (let offset = 0; offset < bytes.length; offset += 1024 * 1024) {
      this.send(Request.INPUT, id, [{ bytes: bytes.subarray(offset, offset + 1024 * 1024) }]);
    }
    this.send(Request.INPUT, id, []);
    return answer;
  }

  /** Reads a file: its content, or the ERR's errno and message. */
  async readFile(
    path: string,
    maxBytes: number = 2 ** 40,
  ): Promise<{ data: Buffer; errno?: string; message?: string; frames: Frame[] }> {
    const { frames, last } = await this.request(Request.READ, [{ str: path }, { u64: maxBytes }]);
    const data = Buffer.concat(frames.filter((frame) => frame.type === Reply.DATA).map((f) => f.payload));
    if (last.type === Reply.ERR) return { data, ...readErr(last), frames };
    return { data, frames };
  }

  /** Closes stdin (end of input) and waits for the agent to exit. */
  async close(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.stdin?.end();
    return await this.exited;
  }

  /** Kills the agent process (test clean-up). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }

  private dispatch(frame: Frame): void {
    if (frame.type === Reply.HELLO) {
      const reader = new FieldReader(frame.payload);
      this.helloResolve({
        version: reader.u32(),
        pid: reader.u32(),
        home: reader.str(),
        shell: reader.str(),
      });
      return;
    }
    if (frame.type === Reply.FATAL) {
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
    if (FINAL.has(frame.type)) {
      this.waiters.delete(frame.id);
      waiter.resolve({ frames: waiter.frames, last: frame });
    }
  }
}

/** Pids of processes whose environment holds `EXEDEV_RUN=<tag>` (what a kill script looks for). */
export function processesWithTag(tag: string): number[] {
  const needle = Buffer.from(`EXEDEV_RUN=${tag}\0`);
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`);
      if (environ.includes(needle)) found.push(Number(name));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}
