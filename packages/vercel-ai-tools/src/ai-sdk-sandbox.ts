import { posix } from "node:path";
import { isSandboxError, type Sandbox, SandboxError } from "@exedev-sandbox/core";
import type { Experimental_SandboxProcess, Experimental_SandboxSession } from "ai";

/** Options for {@link createAiSdkSandbox}. */
export interface AiSdkSandboxOptions {
  /** Absolute base directory for relative paths and commands; it must exist. @default the sandbox's home directory */
  cwd?: string;
  /** Text about this environment that an agent can add to its instructions. @default a sentence naming the base and home directories */
  description?: string;
}

/** Exit status the shell reports for a process killed by SIGKILL, which is how core kills. */
const KILLED_EXIT_CODE = 137;

async function nullIfMissing<T>(run: () => Promise<T>): Promise<T | null> {
  try {
    return await run();
  } catch (error) {
    if (isSandboxError(error, "not_found")) return null;
    throw error;
  }
}

/**
 * Settles with `operation`, or rejects with the signal's reason as soon as it fires. Core's file
 * calls take no signal, so an abandoned SFTP request still completes in the background.
 */
async function abortable<T>(signal: AbortSignal | undefined, operation: () => Promise<T>): Promise<T> {
  if (!signal) return operation();
  signal.throwIfAborted();
  let onAbort = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([operation(), aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** The Node name of a text encoding; an encoding Node cannot convert is refused, not guessed. */
function bufferEncoding(encoding: string | undefined): BufferEncoding {
  const name = encoding ?? "utf-8";
  if (Buffer.isEncoding(name)) return name;
  throw new SandboxError(
    "invalid_argument",
    `Unsupported text encoding "${name}"; use utf-8, utf-16le, latin1 or ascii.`,
    { details: { encoding: name } },
  );
}

/** The SDK's line-range rule: 1-based, inclusive, the file's own line ending, `endLine` past EOF reads to EOF. */
function extractLines(text: string, startLine?: number, endLine?: number): string {
  if (startLine === undefined && endLine === undefined) return text;
  const ending = ["\r\n", "\n", "\r"].find((candidate) => text.includes(candidate)) ?? "\n";
  const lines = text.split(ending);
  return lines
    .slice(Math.max(1, startLine ?? 1) - 1, Math.min(lines.length, endLine ?? lines.length))
    .join(ending);
}

/** A byte stream fed with text chunks; a consumer that cancels it just stops receiving. */
class OutputStream {
  readonly stream: ReadableStream<Uint8Array>;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private readonly encoder = new TextEncoder();

  constructor() {
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => {
        this.controller = undefined;
      },
    });
  }

  push(chunk: string): void {
    this.controller?.enqueue(this.encoder.encode(chunk));
  }

  end(): void {
    this.controller?.close();
    this.controller = undefined;
  }
}

/**
 * The AI SDK's experimental sandbox session on an exe.dev sandbox, so tools written against the
 * SDK's own sandbox interface run on the VM: `generateText({ experimental_sandbox })`, and tools
 * read it as `options.experimental_sandbox`. Experimental, as the SDK's interface is; index.ts
 * also exports it as `experimental_createAiSdkSandbox`.
 *
 * Every member is implemented. Where core cannot do exactly what the interface describes:
 * - `readFile`/`writeFile` (the stream variants) move whole files; `abortSignal` on file calls
 *   rejects at once, but an SFTP request already sent still completes.
 * - `spawn` rejects `stdin: true` before starting, as the interface asks of sandboxes without
 *   writable stdin; its streams carry UTF-8 text (other bytes are replaced), buffered until read.
 * - `kill()` kills the remote process group with SIGKILL; `wait()` then resolves with exit code
 *   137. When the caller's `abortSignal` fires, `wait()` (and `run`) reject with its reason.
 * - `run` keeps at most 10 MiB per stream, as core's `exec` does.
 * Other failures are core `SandboxError`s; a missing path gives `null` (or `false` for `deleteFile`).
 *
 * @example
 * await generateText({ model, tools, experimental_sandbox: createAiSdkSandbox(sandbox), prompt });
 */
export function createAiSdkSandbox(
  sandbox: Sandbox,
  options: AiSdkSandboxOptions = {},
): Experimental_SandboxSession {
  if (options.cwd !== undefined && !options.cwd.startsWith("/")) {
    throw new SandboxError("invalid_argument", "createAiSdkSandbox: cwd must be an absolute path.", {
      details: { field: "cwd" },
    });
  }
  const base = options.cwd ?? sandbox.homeDir;
  const at = (path: string): string => posix.resolve(base, path);
  const writeBytes = (path: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void> =>
    abortable(signal, () => sandbox.writeFile(at(path), bytes));

  const spawn = async (request: {
    command: string;
    workingDirectory?: string;
    env?: Record<string, string>;
    abortSignal?: AbortSignal;
    stdin?: boolean;
  }): Promise<Experimental_SandboxProcess> => {
    if (request.stdin) {
      throw new SandboxError(
        "invalid_argument",
        "spawn with stdin: true is not supported on exe.dev sandboxes; pass input in the command or a file.",
      );
    }
    const signal = request.abortSignal;
    signal?.throwIfAborted();
    const stop = new AbortController();
    let killed = false;
    const onAbort = (): void => stop.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const stdout = new OutputStream();
    const stderr = new OutputStream();
    const finished = sandbox
      .exec(request.command, {
        cwd: at(request.workingDirectory ?? "."),
        env: request.env,
        signal: stop.signal,
        onStdout: (chunk) => stdout.push(chunk),
        onStderr: (chunk) => stderr.push(chunk),
        maxOutputBytes: 1, // the streams carry the output; nothing needs keeping
      })
      .then(
        (result) => ({ exitCode: result.exitCode }),
        (error: unknown) => {
          if (signal?.aborted) throw signal.reason;
          if (killed && isSandboxError(error, "aborted")) return { exitCode: KILLED_EXIT_CODE };
          throw error;
        },
      )
      .finally(() => {
        signal?.removeEventListener("abort", onAbort);
        stdout.end();
        stderr.end();
      });
    // `wait()` may never be called; an unobserved rejection must not crash the process.
    finished.catch(() => {});
    return {
      stdout: stdout.stream,
      stderr: stderr.stream,
      wait: () => finished,
      kill: async () => {
        killed = true;
        stop.abort();
        await finished.catch(() => {});
      },
    };
  };

  return {
    description:
      options.description ??
      `A Linux VM reached over SSH. Relative paths and commands start in ${base}; the home directory is ${sandbox.homeDir}.`,
    readFile: ({ path, abortSignal }) =>
      abortable(abortSignal, () =>
        nullIfMissing(async () =>
          new Blob([(await sandbox.readFileBuffer(at(path))) as Uint8Array<ArrayBuffer>]).stream(),
        ),
      ),
    readBinaryFile: ({ path, abortSignal }) =>
      abortable(abortSignal, () => nullIfMissing(() => sandbox.readFileBuffer(at(path)))),
    readTextFile: ({ path, encoding, startLine, endLine, abortSignal }) =>
      abortable(abortSignal, async () => {
        const decodeAs = bufferEncoding(encoding);
        const bytes = await nullIfMissing(() => sandbox.readFileBuffer(at(path)));
        if (bytes === null) return null;
        return extractLines(Buffer.from(bytes).toString(decodeAs), startLine, endLine);
      }),
    writeFile: ({ path, content, abortSignal }) =>
      abortable(abortSignal, async () =>
        writeBytes(path, new Uint8Array(await new Response(content).arrayBuffer())),
      ),
    writeBinaryFile: ({ path, content, abortSignal }) => writeBytes(path, content, abortSignal),
    writeTextFile: ({ path, content, encoding, abortSignal }) =>
      abortable(abortSignal, async () => writeBytes(path, Buffer.from(content, bufferEncoding(encoding)))),
    stat: ({ path, abortSignal }) =>
      abortable(abortSignal, () =>
        nullIfMissing(async () => {
          const stat = await sandbox.stat(at(path));
          const type = stat.isFile ? "file" : stat.isDirectory ? "directory" : "other";
          return { type, size: stat.size } as const;
        }),
      ),
    listDirectory: ({ path, abortSignal }) =>
      abortable(abortSignal, () =>
        nullIfMissing(async () =>
          (await sandbox.readdir(at(path))).map((entry) => ({ name: entry.name, type: entry.type })),
        ),
      ),
    deleteFile: ({ path, abortSignal }) =>
      abortable(abortSignal, async () => {
        try {
          // Core's rm unlinks a symbolic link itself and refuses a directory (is_a_directory).
          await sandbox.rm(at(path));
          return true;
        } catch (error) {
          if (isSandboxError(error, "not_found")) return false;
          throw error;
        }
      }),
    // The `stdin: true` overload, which must return a writable process, always rejects above.
    spawn: spawn as unknown as Experimental_SandboxSession["spawn"],
    run: async ({ command, workingDirectory, env, abortSignal }) => {
      try {
        const result = await sandbox.exec(command, {
          cwd: at(workingDirectory ?? "."),
          env,
          signal: abortSignal,
        });
        return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
      } catch (error) {
        throw abortSignal?.aborted ? abortSignal.reason : error;
      }
    },
  };
}
