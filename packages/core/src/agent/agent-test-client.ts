// Test-only: runs the real agent.pl locally (no SSH) and speaks its frames, so the agent's tests
// exercise exactly the bytes a client would send.
import { readdirSync, readFileSync } from "node:fs";
import { type FramedAnswer, type FramedCodes, FramedTestChild, readErrFrame } from "./framed-test-child.js";
import { type Frame, NO_MODE, Reply, Request } from "./protocol.js";

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

/** A request's final frame (OK, ERR or EXIT) and every frame before it for its id. */
export type Answer = FramedAnswer;

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

/** Decodes an ERR payload. */
export const readErr: (frame: Frame) => { errno: string; message: string } = readErrFrame;

const CODES: FramedCodes = {
  name: "agent",
  hello: Reply.HELLO,
  fatal: Reply.FATAL,
  ok: Reply.OK,
  err: Reply.ERR,
  final: new Set<number>([Reply.OK, Reply.ERR, Reply.EXIT]),
};

/** The agent as a child process, with a frame-level client. */
export class TestAgent extends FramedTestChild<Hello> {
  constructor(options: TestAgentOptions) {
    super(
      {
        command: options.command ?? ["perl", "-e", AGENT_SOURCE],
        cwd: options.cwd,
        env: options.env ?? { HOME: options.cwd, SHELL: "/bin/bash", PATH: process.env.PATH },
        preamble: options.preamble,
        uid: options.uid,
        gid: options.gid,
      },
      CODES,
      (reader) => ({ version: reader.u32(), pid: reader.u32(), home: reader.str(), shell: reader.str() }),
    );
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
