// tinysshd on loopback. It serves one connection on its stdin/stdout (inetd style), so a small
// TCP listener here starts one tinysshd per connection. Only for showing that core refuses it
// clearly: tinysshd allows one session channel per connection, which a sandbox cannot live with.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const TINYSSHD = "/usr/sbin/tinysshd";

/** A running {@link startTinysshd}. */
export interface TinysshdServer {
  host: string;
  port: number;
  /** Stops listening and ends every tinysshd it started. */
  stop(): Promise<void>;
}

/** Whether this machine has tinysshd (Debian `tinysshd`). */
export function hasTinysshd(): boolean {
  return existsSync(TINYSSHD) && existsSync("/usr/sbin/tinysshd-makekey");
}

/** Starts tinysshd behind a loopback listener, with fresh host keys and no authorised keys. */
export async function startTinysshd(): Promise<TinysshdServer> {
  const dir = mkdtempSync(join(tmpdir(), "exedev-tinysshd-"));
  const keys = join(dir, "keys");
  execFileSync("/usr/sbin/tinysshd-makekey", [keys], { stdio: "ignore" });
  const children = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    const child = spawn(TINYSSHD, [keys], { stdio: ["pipe", "pipe", "ignore"] });
    children.add(child);
    sockets.add(socket);
    socket.on("error", () => {});
    child.stdin?.on("error", () => {});
    socket.pipe(child.stdin as NodeJS.WritableStream);
    child.stdout?.pipe(socket);
    child.once("exit", () => {
      children.delete(child);
      socket.destroy();
    });
    socket.once("close", () => {
      sockets.delete(socket);
      child.kill("SIGKILL");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    host: "127.0.0.1",
    port: (server.address() as AddressInfo).port,
    stop: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      for (const child of children) child.kill("SIGKILL");
      await closed;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
