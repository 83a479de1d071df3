// Helpers shared by this package's tests (not part of the build).
import { execFile } from "node:child_process";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import type { Emulator } from "./emulator.js";

/** A child process runner that never blocks the event loop the in-process emulator needs. */
export const run: (
  file: string,
  args: readonly string[],
  options?: { input?: string; timeout?: number },
) => Promise<{ stdout: string; stderr: string; code: number }> = (file, args, options = {}) =>
  new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { timeout: options.timeout ?? 30_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 255) : 0;
        resolve({ stdout: String(stdout), stderr: String(stderr), code });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });

/** What `POST /exec` answered. */
export interface ApiAnswer {
  status: number;
  text: string;
  /** The body's JSON lines, parsed. */
  lines: Array<Record<string, unknown>>;
  headers: Headers;
}

/** Sends a raw request to the emulator's API. */
export async function post(
  emulator: Emulator,
  body: string | Uint8Array | undefined,
  options: { token?: string; authorization?: string; method?: string; path?: string } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (options.authorization !== undefined) headers.Authorization = options.authorization;
  else if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  const response = await fetch(`${emulator.apiUrl}${options.path ?? "/exec"}`, {
    method: options.method ?? "POST",
    headers,
    body,
  });
  const text = await response.text();
  const lines = text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { status: response.status, text, lines, headers: response.headers };
}

/** `promisify(setTimeout)`, spelled out. */
export const sleep: (ms: number) => Promise<void> = promisify(setTimeout);

/**
 * Listens on a free port of 127.0.0.1 in 3000–9999, the range exe.dev serves on its own URL (the
 * emulator's VMs share this machine's ports, so a test server must find one nobody holds).
 */
export async function listenInPortRange(server: Server): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = 3000 + Math.floor(Math.random() * 7000);
    const ok = await new Promise<boolean>((resolve) => {
      const failed = () => resolve(false);
      server.once("error", failed);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", failed);
        resolve(true);
      });
    });
    if (ok) return (server.address() as AddressInfo).port;
  }
  throw new Error("no free port in 3000-9999");
}

/** A port in 3000–9999 free right now (for a server a VM starts), found by listening on it once. */
export async function freePortInRange(): Promise<number> {
  const { createServer } = await import("node:http");
  const server = createServer();
  const port = await listenInPortRange(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}
