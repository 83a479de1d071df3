import { posix } from "node:path";
import { isSandboxError, type Sandbox, SandboxError } from "@exedev-sandbox/core";
import type { Experimental_SandboxSession } from "ai";
import { spawnForSession } from "./ai-sdk-spawn.js";

/** Options for {@link createAiSdkSandbox}. */
export interface AiSdkSandboxOptions {
  /** Absolute base directory for relative paths and commands; it must exist. @default the sandbox's home directory */
  cwd?: string;
  /** Text about this environment that an agent can add to its instructions. @default a sentence naming the base and home directories */
  description?: string;
}

async function nullIfMissing<T>(run: () => Promise<T>): Promise<T | null> {
  try {
    return await run();
  } catch (error) {
    if (isSandboxError(error, "not_found")) return null;
    throw error;
  }
}

/**
 * Runs a core file call with the caller's signal, which core honours itself (it stops the
 * transfer and leaves no partial file); an abort rejects with the signal's reason, as `run` and
 * `spawn` do, rather than with core's `aborted` error.
 */
async function abortable<T>(signal: AbortSignal | undefined, operation: () => Promise<T>): Promise<T> {
  signal?.throwIfAborted();
  try {
    return await operation();
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
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

/**
 * The AI SDK's experimental sandbox session on an exe.dev sandbox, so tools written against the
 * SDK's own sandbox interface run on the VM: `generateText({ experimental_sandbox })`, and tools
 * read it as `options.experimental_sandbox`. Experimental, as the SDK's interface is; index.ts
 * also exports it as `experimental_createAiSdkSandbox`.
 *
 * Every member is implemented. Where core cannot do exactly what the interface describes:
 * - `readFile`/`writeFile` (the stream variants) stream through core's `readFileStream` and
 *   `writeFileStream`: nothing is held whole, and a stream write is renamed into place only once
 *   the content ended. `abortSignal` on any file call rejects at once with the signal's reason
 *   and stops the transfer; an aborted write leaves the old file.
 * - `spawn` runs on core's `spawn` (a process that dies with the sandbox); its streams are
 *   byte-exact and buffered until read. With `stdin: true` the handle has a writable `stdin`
 *   whose writes resolve once the VM took the bytes and whose `close()` sends end of file;
 *   without it stdin is closed at once.
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
    abortable(signal, () => sandbox.writeFile(at(path), bytes, { signal }));

  return {
    description:
      options.description ??
      `A Linux VM reached over SSH. Relative paths and commands start in ${base}; the home directory is ${sandbox.homeDir}.`,
    // Streamed both ways: the server sends as the reader reads; a later abort errors the stream.
    readFile: ({ path, abortSignal }) =>
      abortable(abortSignal, () =>
        nullIfMissing(() => sandbox.readFileStream(at(path), { signal: abortSignal })),
      ),
    readBinaryFile: ({ path, abortSignal }) =>
      abortable(abortSignal, () =>
        nullIfMissing(() => sandbox.readFileBuffer(at(path), { signal: abortSignal })),
      ),
    readTextFile: ({ path, encoding, startLine, endLine, abortSignal }) =>
      abortable(abortSignal, async () => {
        const decodeAs = bufferEncoding(encoding);
        const bytes = await nullIfMissing(() => sandbox.readFileBuffer(at(path), { signal: abortSignal }));
        if (bytes === null) return null;
        return extractLines(Buffer.from(bytes).toString(decodeAs), startLine, endLine);
      }),
    writeFile: ({ path, content, abortSignal }) =>
      abortable(abortSignal, async () => {
        // Renamed into place when `content` ends; an error or abort on either side keeps the old file.
        const sink = await sandbox.writeFileStream(at(path), { signal: abortSignal });
        await content.pipeTo(sink);
      }),
    writeBinaryFile: ({ path, content, abortSignal }) => writeBytes(path, content, abortSignal),
    writeTextFile: ({ path, content, encoding, abortSignal }) =>
      abortable(abortSignal, async () => writeBytes(path, Buffer.from(content, bufferEncoding(encoding)))),
    stat: ({ path, abortSignal }) =>
      abortable(abortSignal, () =>
        nullIfMissing(async () => {
          const stat = await sandbox.stat(at(path), { signal: abortSignal });
          const type = stat.isFile ? "file" : stat.isDirectory ? "directory" : "other";
          return { type, size: stat.size } as const;
        }),
      ),
    listDirectory: ({ path, abortSignal }) =>
      abortable(abortSignal, () =>
        nullIfMissing(async () =>
          (await sandbox.readdir(at(path), { signal: abortSignal })).map((entry) => ({
            name: entry.name,
            type: entry.type,
          })),
        ),
      ),
    deleteFile: ({ path, abortSignal }) =>
      abortable(abortSignal, async () => {
        try {
          // Core's rm unlinks a symbolic link itself and refuses a directory (is_a_directory).
          await sandbox.rm(at(path), { signal: abortSignal });
          return true;
        } catch (error) {
          if (isSandboxError(error, "not_found")) return false;
          throw error;
        }
      }),
    // One function for the three overloads: it returns the writable process exactly when `stdin: true`.
    spawn: ((request: Parameters<Experimental_SandboxSession["spawn"]>[0]) =>
      spawnForSession(sandbox, {
        command: request.command,
        cwd: at(request.workingDirectory ?? "."),
        env: request.env,
        abortSignal: request.abortSignal,
        stdin: request.stdin,
      })) as unknown as Experimental_SandboxSession["spawn"],
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
