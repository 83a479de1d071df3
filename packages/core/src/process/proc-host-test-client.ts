// Test-only: runs the real proc-host.pl locally (no SSH) and speaks its frames (PROCESSES.md), so
// the host's tests exercise exactly the bytes a client sends.
import { readdirSync, readFileSync } from "node:fs";
import {
  type FramedAnswer,
  type FramedCodes,
  FramedTestChild,
  readErrFrame,
} from "../agent/framed-test-child.js";
import { type Field, FieldReader, type Frame } from "../agent/protocol.js";
import { HostReply, HostRequest } from "./host-protocol.js";
import { PROC_HOST_SOURCE } from "./proc-host-source.js";

const CODES: FramedCodes = {
  name: "host",
  hello: HostReply.HELLO,
  fatal: HostReply.FATAL,
  ok: HostReply.OK,
  err: HostReply.ERR,
  final: new Set<number>([HostReply.STARTED, HostReply.EXITED, HostReply.OK, HostReply.ERR]),
};

/** HELLO's fields. */
export interface HostHello {
  version: number;
  pid: number;
  stateDir: string;
  tag: string;
}

/** A request's final frame and every frame before it for its id. */
export type HostAnswer = FramedAnswer;

/** EXITED's fields. */
export interface HostExit {
  kind: number;
  value: number;
  endedAtMs: number;
  timedOut: boolean;
}

/** One ENTRY. */
export interface HostEntry {
  id: string;
  pid: number;
  flags: number;
  kind: number;
  value: number;
  startedAtMs: number;
  endedAtMs: number;
  command: string;
}

/** A FOLLOW to its end: INFO, the output with each frame's offset, EXITED (or the ERR). */
export interface FollowResult {
  info?: { pid: number; flags: number; startedAtMs: number; command: string };
  out: { offset: number; data: Buffer }[];
  err: { offset: number; data: Buffer }[];
  stdout: string;
  stderr: string;
  exit?: HostExit;
  errno?: string;
}

/** Decodes an ERR payload. */
export const readHostErr: (frame: Frame) => { errno: string; message: string } = readErrFrame;

/** Decodes EXITED. */
export function readExit(frame: Frame): HostExit {
  const r = new FieldReader(frame.payload);
  return { kind: r.u32(), value: r.u32(), endedAtMs: r.u64(), timedOut: r.u32() === 1 };
}

/** How to start a test host. */
export interface TestHostOptions {
  /** `HOME` (the state goes under it) and the working directory. */
  home: string;
  /** The host's tag (`EXEDEV_RUN`). */
  tag: string;
  /** Extra environment. @default none */
  env?: NodeJS.ProcessEnv;
  /** The program and arguments. @default perl -e PROC_HOST_SOURCE */
  command?: readonly string[];
  /** Bytes written before any frame (a bootstrap's source). @default none */
  preamble?: Buffer;
  /** Run as this user and group (the tests run as root). @default this process's */
  uid?: number;
  gid?: number;
}

/** The host as a child process, with a frame-level client. */
export class TestHost extends FramedTestChild<HostHello> {
  constructor(options: TestHostOptions) {
    super(
      {
        command: options.command ?? ["perl", "-e", PROC_HOST_SOURCE],
        cwd: options.home,
        env: {
          HOME: options.home,
          SHELL: "/bin/sh",
          PATH: process.env.PATH,
          EXEDEV_RUN: options.tag,
          ...options.env,
        },
        preamble: options.preamble,
        uid: options.uid,
        gid: options.gid,
      },
      CODES,
      (reader) => ({ version: reader.u32(), pid: reader.u32(), stateDir: reader.str(), tag: reader.str() }),
    );
  }

  /** SPAWN: the pid and start time, or throws with the errno. */
  async spawn(
    id: string,
    line: string,
    options: { detached?: boolean; timeoutMs?: number; command?: string } = {},
  ): Promise<{ pid: number; startedAtMs: number }> {
    const { last } = await this.request(HostRequest.SPAWN, spawnFields(id, line, options));
    if (last.type === HostReply.ERR) throw new Error(`host answered ${readHostErr(last).errno}`);
    if (last.type !== HostReply.STARTED) throw new Error(`host answered type ${last.type}`);
    const reader = new FieldReader(last.payload);
    return { pid: reader.u32(), startedAtMs: reader.u64() };
  }

  /** Starts a FOLLOW; `result` settles at its EXITED, ERR or OK (UNFOLLOW). */
  startFollow(
    id: string,
    outOffset = 0,
    errOffset = 0,
    onFrame?: (frame: Frame) => void,
  ): { requestId: number; result: Promise<FollowResult> } {
    const requestId = this.id();
    if (onFrame) this.listen(requestId, onFrame);
    const answer = this.request(
      HostRequest.FOLLOW,
      [{ str: id }, { u64: outOffset }, { u64: errOffset }],
      requestId,
    );
    return { requestId, result: answer.then(readFollow) };
  }

  /** FOLLOW to the end. */
  follow(id: string, outOffset = 0, errOffset = 0): Promise<FollowResult> {
    return this.startFollow(id, outOffset, errOffset).result;
  }

  async list(): Promise<HostEntry[]> {
    const { frames, last } = await this.request(HostRequest.LIST);
    if (last.type !== HostReply.OK) throw new Error(`LIST answered type ${last.type}`);
    return frames
      .filter((frame) => frame.type === HostReply.ENTRY)
      .map((frame) => {
        const r = new FieldReader(frame.payload);
        return {
          id: r.str(),
          pid: r.u32(),
          flags: r.u32(),
          kind: r.u32(),
          value: r.u32(),
          startedAtMs: r.u64(),
          endedAtMs: r.u64(),
          command: r.str(),
        };
      });
  }
}

/** SPAWN's fields. */
export function spawnFields(
  id: string,
  line: string,
  options: { detached?: boolean; timeoutMs?: number; command?: string } = {},
): Field[] {
  return [
    { str: id },
    { str: options.command ?? line },
    { str: line },
    { u32: options.detached ? 1 : 0 },
    { u32: options.timeoutMs ?? 0 },
  ];
}

function readFollow({ frames, last }: HostAnswer): FollowResult {
  const result: FollowResult = { out: [], err: [], stdout: "", stderr: "" };
  for (const frame of frames) {
    const r = new FieldReader(frame.payload);
    if (frame.type === HostReply.INFO) {
      result.info = { pid: r.u32(), flags: r.u32(), startedAtMs: r.u64(), command: r.str() };
    } else if (frame.type === HostReply.OUT || frame.type === HostReply.ERROUT) {
      const offset = r.u64();
      const part = { offset, data: frame.payload.subarray(8) };
      (frame.type === HostReply.OUT ? result.out : result.err).push(part);
    }
  }
  result.stdout = Buffer.concat(result.out.map((part) => part.data)).toString("utf8");
  result.stderr = Buffer.concat(result.err.map((part) => part.data)).toString("utf8");
  if (last.type === HostReply.EXITED) result.exit = readExit(last);
  if (last.type === HostReply.ERR) result.errno = readHostErr(last).errno;
  return result;
}

/** Pids of processes whose environment or command line contains `marker`. */
export function processesWith(marker: string): number[] {
  const needle = Buffer.from(marker);
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`);
      const cmdline = readFileSync(`/proc/${name}/cmdline`);
      if (environ.includes(needle) || cmdline.includes(needle)) found.push(Number(name));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}
