import { spawn } from "node:child_process";

/**
 * A `fetch` that answers `POST /exec` bodies `ssh <vm> <command>` by running the command with the
 * local `sh`, the way exe.dev's lobby does it: the words are split on whitespace and rejoined
 * with single spaces, stdout and stderr are interleaved in the body. A real shell, no mocks: the
 * sandbox's scripts run exactly as they would on a VM.
 */
export function createLocalExecFetch(options: { onBody?: (body: string) => void } = {}): typeof fetch {
  return async (_input, init) => {
    const body = String(init?.body ?? "");
    options.onBody?.(body);
    const words = body.trim().split(/\s+/);
    if (words[0] !== "ssh" || words.length < 3) return new Response("bad command\n", { status: 422 });
    const line = words.slice(2).join(" ");
    const child = spawn("sh", ["-c", line], { stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => chunks.push(chunk));
    const onAbort = () => child.kill("SIGKILL");
    init?.signal?.addEventListener("abort", onAbort, { once: true });
    const code = await new Promise<number>((resolve) =>
      child.on("close", (status) => resolve(status ?? 255)),
    );
    init?.signal?.removeEventListener("abort", onAbort);
    if (init?.signal?.aborted) throw init.signal.reason;
    return new Response(Buffer.concat(chunks), { status: 200, headers: { "x-exe-exit": String(code) } });
  };
}
