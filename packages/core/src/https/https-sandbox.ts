import { invalidArgument, SandboxError } from "../errors.js";
import type {
  ExecOptions,
  ExecResult,
  FileOptions,
  MkdirOptions,
  ReadFileOptions,
  RmOptions,
  Sandbox,
  WriteFileOptions,
} from "../sandbox.js";
import { abortable, signalOf } from "../ssh/file-abort.js";
import { checkMkdir, checkRead, checkRm, refusedRm } from "../ssh/file-checks.js";
import { checkDurationMs, checkMode, checkRemotePath } from "../validate.js";
import { checkOptionsObject } from "../validate-options.js";
import { decodeBase64 } from "./base64.js";
import { findFrame } from "./frame.js";
import { runHttpsExec } from "./https-exec.js";
import {
  httpsExists,
  httpsMkdir,
  httpsReaddir,
  httpsReadFile,
  httpsRename,
  httpsRm,
  httpsStat,
  httpsWriteFile,
} from "./https-files.js";
import { createHttpsTransport, type HttpsApiOptions, type HttpsTransport } from "./https-transport.js";
import { HOME_SCRIPT } from "./scripts.js";

/** Options for {@link createHttpsSandbox}. */
export interface HttpsSandboxOptions {
  /** The VM's name, e.g. `"my-vm"`. */
  vm: string;
  /** How to reach exe.dev's HTTPS API: a token whose `cmds` allow `ssh`, and optionally the URL and `fetch`. */
  api: HttpsApiOptions;
  /**
   * How long one request waits on the VM for a command to finish before answering "still
   * running" (the client then asks again). Must stay under exe.dev's 30 s limit per request.
   * @default 20000
   */
  pollWaitMs?: number;
}

const DEFAULT_POLL_WAIT_MS = 20_000;
const MAX_POLL_WAIT_MS = 25_000;

const unsupported = (method: string): SandboxError =>
  new SandboxError(
    "unsupported",
    `${method} needs a local file system or a persistent connection, which the HTTPS sandbox does not have; use the SSH sandbox (createSandbox / createExeDevSandbox) for it.`,
    { retryable: false },
  );

/**
 * A {@link Sandbox} whose commands and file operations travel only over exe.dev's HTTPS API
 * (`POST /exec` with `ssh <vm> <command>`), for runtimes with no raw TCP (Cloudflare Workers,
 * edge functions) and networks that block port 22. Its module graph needs only `fetch`, Web
 * Crypto, `TextEncoder`/`TextDecoder`, `atob`/`btoa` and timers: nothing from `node:`.
 *
 * - Every request runs a small base64-framed `sh` script, so nothing depends on the lobby's
 *   and the VM shell's quoting; exit codes and data come back in lines tagged with a random
 *   marker (not the `X-Exe-Exit` trailer, which `fetch` cannot read).
 * - `exec` starts the command as a detached job with stdout and stderr in a private temp
 *   directory and polls it, so commands may run longer than exe.dev's 30 s limit and keep
 *   their streams apart. `onStdout`/`onStderr` see output per poll, not as it is printed.
 * - Files move as base64 chunks within the 64 KiB body limit; writes are atomic.
 * - Methods that need a local file system or a persistent channel (`uploadFile`,
 *   `downloadFile`, directory transfers, file streams, `spawn`, processes, terminals, shells,
 *   `waitForPort`) reject with `unsupported`.
 *
 * Resolves once the VM answered (its home directory is read first).
 */
export async function createHttpsSandbox(options: HttpsSandboxOptions): Promise<Sandbox> {
  checkOptionsObject(options, "createHttpsSandbox options");
  if (options === undefined) throw invalidArgument("createHttpsSandbox needs { vm, api }.");
  const transport = createHttpsTransport(options.vm, options.api);
  const pollWaitMs = checkDurationMs(options.pollWaitMs, "pollWaitMs") ?? DEFAULT_POLL_WAIT_MS;
  if (pollWaitMs > MAX_POLL_WAIT_MS) {
    throw invalidArgument(
      `pollWaitMs must be at most ${MAX_POLL_WAIT_MS} ms (exe.dev ends requests at 30 s).`,
    );
  }
  const frames = await transport.run(HOME_SCRIPT, [], "home directory");
  const home =
    new TextDecoder().decode(decodeBase64(findFrame(frames, "HOME")?.fields.join("") ?? "")) || "/";
  return new HttpsSandbox(transport, home, pollWaitMs);
}

class HttpsSandbox implements Sandbox {
  #closed = false;
  readonly #background = new Set<Promise<unknown>>();

  constructor(
    private readonly transport: HttpsTransport,
    readonly homeDir: string,
    private readonly pollWaitMs: number,
  ) {}

  #open(): void {
    if (this.#closed)
      throw new SandboxError("closed", "The sandbox was closed; create a new one to continue.");
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    this.#open();
    return runHttpsExec(
      {
        transport: this.transport,
        pollWaitMs: this.pollWaitMs,
        track: (work) => {
          this.#background.add(work);
          void work.finally(() => this.#background.delete(work));
        },
      },
      command,
      options,
    );
  }

  async readFile(path: string, options: ReadFileOptions = {}): Promise<string> {
    return new TextDecoder().decode(await this.readFileBuffer(path, options));
  }

  async readFileBuffer(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
    const { target, maxBytes } = checkRead(path, options);
    const signal = signalOf(options, "readFile");
    this.#open();
    return abortable(signal, () => httpsReadFile(this.transport, target, maxBytes, signal));
  }

  async writeFile(path: string, data: string | Uint8Array, options: WriteFileOptions = {}): Promise<void> {
    const target = checkRemotePath(path);
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw invalidArgument("writeFile data must be a string or a Uint8Array.");
    }
    const mode = checkMode(checkOptionsObject(options, "writeFile options").mode);
    const signal = signalOf(options, "writeFile");
    this.#open();
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    return abortable(signal, () => httpsWriteFile(this.transport, target, bytes, mode, signal));
  }

  async stat(path: string, options: FileOptions = {}) {
    const target = checkRemotePath(path);
    const signal = signalOf(options, "stat");
    this.#open();
    return abortable(signal, () => httpsStat(this.transport, target, signal));
  }

  async readdir(path: string, options: FileOptions = {}) {
    const target = checkRemotePath(path);
    const signal = signalOf(options, "readdir");
    this.#open();
    return abortable(signal, () => httpsReaddir(this.transport, target, signal));
  }

  async exists(path: string, options: FileOptions = {}) {
    const target = checkRemotePath(path);
    const signal = signalOf(options, "exists");
    this.#open();
    return abortable(signal, () => httpsExists(this.transport, target, signal));
  }

  async mkdir(path: string, options: MkdirOptions = {}) {
    const { target, recursive } = checkMkdir(path, options);
    const signal = signalOf(options, "mkdir");
    this.#open();
    return abortable(signal, () => httpsMkdir(this.transport, target, recursive, signal));
  }

  async rm(path: string, options: RmOptions = {}) {
    const { given, recursive, force } = checkRm(path, options);
    const signal = signalOf(options, "rm");
    if (given === "/" || given === this.homeDir) throw refusedRm(given, given);
    this.#open();
    return abortable(signal, () => httpsRm(this.transport, given, { recursive, force }, signal));
  }

  async rename(from: string, to: string, options: FileOptions = {}) {
    const source = checkRemotePath(from, "from");
    const target = checkRemotePath(to, "to");
    const signal = signalOf(options, "rename");
    this.#open();
    return abortable(signal, () => httpsRename(this.transport, source, target, signal));
  }

  async uploadFile(): Promise<void> {
    throw unsupported("uploadFile");
  }
  async downloadFile(): Promise<void> {
    throw unsupported("downloadFile");
  }
  async uploadDirectory(): Promise<never> {
    throw unsupported("uploadDirectory");
  }
  async downloadDirectory(): Promise<never> {
    throw unsupported("downloadDirectory");
  }
  async readFileStream(): Promise<never> {
    throw unsupported("readFileStream");
  }
  async writeFileStream(): Promise<never> {
    throw unsupported("writeFileStream");
  }
  async spawn(): Promise<never> {
    throw unsupported("spawn");
  }
  async listProcesses(): Promise<never> {
    throw unsupported("listProcesses");
  }
  async attachProcess(): Promise<never> {
    throw unsupported("attachProcess");
  }
  async waitForPort(): Promise<never> {
    throw unsupported("waitForPort");
  }
  async waitForOutput(): Promise<never> {
    throw unsupported("waitForOutput");
  }
  async openTerminal(): Promise<never> {
    throw unsupported("openTerminal");
  }
  async openShell(): Promise<never> {
    throw unsupported("openShell");
  }

  async close(): Promise<void> {
    this.#closed = true;
    // Kills still on their way (after aborts) finish first: the processes keep running otherwise.
    await Promise.allSettled([...this.#background]);
  }
}
