import type { Sandbox, SandboxProcess } from "@exedev-sandbox/core";
import type { Experimental_SandboxProcess } from "ai";

/** What the session's `spawn` takes (the SDK's `SandboxSpawnOptions`, with the path resolved). */
export interface SessionSpawnRequest {
  command: string;
  cwd: string;
  env?: Record<string, string> | undefined;
  abortSignal?: AbortSignal | undefined;
  stdin?: boolean | undefined;
}

/** The SDK's `WritableSandboxProcess` (the `ai` package does not export its name). */
export type WritableSessionProcess = Experimental_SandboxProcess & {
  readonly stdin: WritableStream<Uint8Array>;
};

/**
 * A byte stream fed from one of the process's output iterables. It reads eagerly and buffers
 * until read: the SDK's consumer may read one stream only, and core's process wants both read
 * so that neither falls behind. Cancelling it only stops the buffering.
 */
function outputStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      controller = undefined;
    },
  });
  void (async () => {
    try {
      for await (const chunk of source) controller?.enqueue(chunk);
      controller?.close();
    } catch (error) {
      controller?.error(error);
    }
    controller = undefined;
  })();
  return stream;
}

/** Stdin as a web stream: each chunk resolves once the VM took it; `close()` sends end of file. */
function inputStream(process: SandboxProcess): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write: (chunk) => process.write(chunk),
    close: () => process.closeStdin(),
    abort: () => process.closeStdin(),
  });
}

/**
 * The session's `spawn` on core's `spawn`: a process that is not detached (it dies with the
 * sandbox), byte-exact output streams, live stdin when asked for, `kill()` with SIGKILL on the
 * whole process group. An abort kills it and `wait()` rejects with the signal's reason.
 */
export async function spawnForSession(
  sandbox: Sandbox,
  request: SessionSpawnRequest,
): Promise<Experimental_SandboxProcess | WritableSessionProcess> {
  const signal = request.abortSignal;
  signal?.throwIfAborted();
  let process: SandboxProcess;
  try {
    process = await sandbox.spawn(request.command, {
      cwd: request.cwd,
      env: request.env,
      signal,
      maxOutputBytes: 1, // the streams carry the output; wait() needs only the exit code
    });
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  }
  // Without `stdin: true` the interface promises a closed stdin (a command reading it sees EOF).
  if (!request.stdin) process.closeStdin().catch(() => {});
  const onAbort = (): void => {
    process.kill().catch(() => {});
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  const finished = process.wait().then(
    (result) => {
      if (signal?.aborted) throw signal.reason;
      return { exitCode: result.exitCode };
    },
    (error: unknown) => {
      throw signal?.aborted ? signal.reason : error;
    },
  );
  finished
    .finally(() => signal?.removeEventListener("abort", onAbort))
    // `wait()` may never be called; an unobserved rejection must not crash the process.
    .catch(() => {});
  let killing: Promise<void> | undefined;
  const handle: Experimental_SandboxProcess = {
    pid: process.pid,
    stdout: outputStream(process.stdoutBytes),
    stderr: outputStream(process.stderrBytes),
    wait: () => finished,
    kill: () => {
      killing ??= process
        .kill("SIGKILL")
        .catch(() => {})
        .then(() =>
          finished.then(
            () => {},
            () => {},
          ),
        );
      return killing;
    },
  };
  return request.stdin ? { ...handle, stdin: inputStream(process) } : handle;
}
