import { posix } from "node:path";
import { isSandboxError, type Sandbox, SandboxError } from "@exedev-sandbox/core";
import type { Experimental_SandboxProcess, Experimental_SandboxSession } from "ai";

/** Options for {@link createAiSdkSandbox}. */
export interface AiSdkSandboxOptions {
  /** Base directory for relative paths and commands. @default the sandbox's home directory */
  cwd?: string;
  /** Text added to the agent's instructions about this environment. @default a short description of the VM */
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

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/**
 * The AI SDK's experimental sandbox session (`generateText({ experimental_sandbox })`) on an
 * exe.dev sandbox, so tools written against the SDK's own sandbox interface run on the VM.
 * Experimental, as the SDK's interface is.
 *
 * Limits: `readFile`/`writeFile` streams are whole-file reads and writes under the hood;
 * `spawn` streams stdout/stderr as UTF-8 text and does not support `stdin: true` (it rejects
 * before starting, as the interface asks); `kill()` kills the remote process group.
 */
export function createAiSdkSandbox(
  sandbox: Sandbox,
  options: AiSdkSandboxOptions = {},
): Experimental_SandboxSession {
  const base = options.cwd ?? sandbox.homeDir;
  const at = (path: string): string => (path.startsWith("/") ? path : posix.join(base, path));
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
        "spawn with stdin: true is not supported by the exe.dev sandbox; pass input in the command.",
      );
    }
    const stop = new AbortController();
    request.abortSignal?.addEventListener("abort", () => stop.abort(request.abortSignal?.reason), {
      once: true,
    });
    let out!: ReadableStreamDefaultController<Uint8Array>;
    let err!: ReadableStreamDefaultController<Uint8Array>;
    const stdout = new ReadableStream<Uint8Array>({
      start: (controller) => {
        out = controller;
      },
    });
    const stderr = new ReadableStream<Uint8Array>({
      start: (controller) => {
        err = controller;
      },
    });
    const finished = sandbox
      .exec(request.command, {
        cwd: request.workingDirectory === undefined ? base : at(request.workingDirectory),
        env: request.env,
        signal: stop.signal,
        onStdout: (chunk) => out.enqueue(Buffer.from(chunk)),
        onStderr: (chunk) => err.enqueue(Buffer.from(chunk)),
        maxOutputBytes: 1, // the streams carry the output; nothing needs keeping
      })
      .finally(() => {
        out.close();
        err.close();
      });
    finished.catch(() => {});
    return {
      stdout,
      stderr,
      wait: async () => ({ exitCode: (await finished).exitCode }),
      kill: async () => {
        stop.abort();
        await finished.catch(() => {});
      },
    };
  };
  return {
    description:
      options.description ??
      `A Linux VM reached over SSH. Commands run in ${base} unless given a working directory; the home directory is ${sandbox.homeDir}.`,
    readFile: ({ path }) => nullIfMissing(async () => streamOf(await sandbox.readFileBuffer(at(path)))),
    readBinaryFile: ({ path }) => nullIfMissing(() => sandbox.readFileBuffer(at(path))),
    readTextFile: ({ path, encoding, startLine, endLine }) =>
      nullIfMissing(async () => {
        const text = new TextDecoder(encoding ?? "utf-8").decode(await sandbox.readFileBuffer(at(path)));
        if (startLine === undefined && endLine === undefined) return text;
        const lines = text.split("\n");
        return lines.slice((startLine ?? 1) - 1, endLine ?? lines.length).join("\n");
      }),
    writeFile: async ({ path, content }) => sandbox.writeFile(at(path), await collect(content)),
    writeBinaryFile: ({ path, content }) => sandbox.writeFile(at(path), content),
    writeTextFile: ({ path, content, encoding }) => {
      if (encoding && !/^utf-?8$/i.test(encoding)) {
        throw new SandboxError("invalid_argument", `writeTextFile supports UTF-8 only, not ${encoding}.`);
      }
      return sandbox.writeFile(at(path), content);
    },
    stat: ({ path }) =>
      nullIfMissing(async () => {
        const stat = await sandbox.stat(at(path));
        return {
          type: stat.isFile ? "file" : stat.isDirectory ? "directory" : "other",
          size: stat.size,
        } as const;
      }),
    listDirectory: ({ path }) =>
      nullIfMissing(async () =>
        (await sandbox.readdir(at(path))).map((entry) => ({ name: entry.name, type: entry.type })),
      ),
    deleteFile: async ({ path }) => {
      try {
        await sandbox.rm(at(path));
        return true;
      } catch (error) {
        if (isSandboxError(error, "not_found")) return false;
        throw error;
      }
    },
    // The `stdin: true` overload (which must return a writable process) always rejects above.
    spawn: spawn as unknown as Experimental_SandboxSession["spawn"],
    run: async ({ command, workingDirectory, env, abortSignal }) => {
      const result = await sandbox.exec(command, {
        cwd: workingDirectory === undefined ? base : at(workingDirectory),
        env,
        signal: abortSignal,
      });
      return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    },
  };
}
