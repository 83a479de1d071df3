import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { type AddressInfo, connect, createServer } from "node:net";
import type { PortForwarding, Sandbox, SandboxProcess } from "@exedev-sandbox/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { remainingProcesses } from "./remote-processes.ts";
import { expectSandboxError } from "./sandbox-contract.ts";

/** A sandbox that forwards ports (every SSH sandbox). */
export type ForwardingSandbox = Sandbox & PortForwarding;

/** What the port-forward contract needs of the suite around it. */
export interface PortForwardContractOptions {
  /** Opens a sandbox on the server under test; the contract closes it. */
  create(): Promise<ForwardingSandbox>;
  /**
   * Cuts every connection the sandboxes have (a forwarder's `cut`, the emulator's drop), so
   * the fault case checks that forwards in both directions work again after the reconnect.
   */
  dropConnections?(): Promise<void> | void;
}

/** Debian's python3 when there is one: the servers' default PATH may lack another. */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const BIG_BYTES = 20 * 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Python's threading HTTP server on 127.0.0.1:`port`, with a listen backlog of 128: the stock
 * `-m http.server` listens with a backlog of 5, and 100 connections at once then wait on SYN
 * retries (1, 3, 7, 15 s) on a loaded machine, which is the test server's limit, not the forward's.
 */
const serveOn = (port: number): string =>
  `import http.server as h; port = ${port}; h.ThreadingHTTPServer.request_queue_size = 128; ` +
  `h.ThreadingHTTPServer(("127.0.0.1", port), h.SimpleHTTPRequestHandler).serve_forever()`;

/**
 * A port nothing listens on right now. The tests' "VMs" share this machine's network (sshd on
 * loopback, the emulator), so a free local port is a free VM port.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves with the error code a TCP connect to 127.0.0.1:`port` ends with, or "connected". */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** Fetches `url`, returning the status and body, or the failure's name. */
async function get(url: string): Promise<{ status: number; body: string } | { failed: string }> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    return { failed: String((error as Error & { cause?: { code?: string } }).cause?.code ?? error) };
  }
}

/**
 * Registers the port-forwarding cases (issue 18) for one server: a real HTTP server in the VM
 * reached through `forwardPort` by many clients at once and for a large download, a local
 * server reached from the VM through `exposeLocalPort`, closing, refusals and, with
 * `dropConnections`, a cut in the middle.
 */
export function definePortForwardContract(name: string, options: PortForwardContractOptions): void {
  describe(`port forwarding: ${name}`, () => {
    let sandbox: ForwardingSandbox;
    let root: string;
    let vmPort: number;
    let server: SandboxProcess | undefined;
    let bigSha = "";
    let local: Server;
    let localPort: number;

    beforeAll(async () => {
      sandbox = await options.create();
      root = `${sandbox.homeDir}/forward-${randomBytes(4).toString("hex")}`;
      await sandbox.mkdir(root, { recursive: true });
      await sandbox.writeFile(`${root}/hello.txt`, "hello from the VM\n");
      const made = await sandbox.exec(
        `head -c ${BIG_BYTES} /dev/urandom > big.bin && sha256sum big.bin | cut -d' ' -f1`,
        { cwd: root },
      );
      expect(made.exitCode, made.stderr).toBe(0);
      bigSha = made.stdout.trim();
      vmPort = await freePort();
      // Detached: the fault case's cut kills what the dropped connection ran (sshd's session
      // processes die with it); the server must outlive it as a VM's server outlives a blip.
      server = await sandbox.spawn(`exec ${PYTHON} -c '${serveOn(vmPort)}'`, {
        cwd: root,
        detached: true,
      });
      await sandbox.waitForPort(vmPort, { timeoutMs: 15_000 });
      local = createHttpServer((request, response) => {
        response.end(`local answer to ${request.url}`);
      });
      await new Promise<void>((resolve) => local.listen(0, "127.0.0.1", resolve));
      localPort = (local.address() as AddressInfo).port;
    }, 60_000);

    afterAll(async () => {
      await server?.kill("SIGKILL").catch(() => {});
      await server?.wait().catch(() => {});
      if (sandbox) expect(await remainingProcesses(sandbox, `port = ${vmPort};`)).toBe("");
      await sandbox?.rm(root, { recursive: true, force: true }).catch(() => {});
      await sandbox?.close();
      await new Promise((resolve) => local?.close(resolve));
    });

    it("carries 100 concurrent HTTP requests and a 20 MiB download whose SHA-256 matches", async () => {
      const forward = await sandbox.forwardPort(vmPort);
      try {
        expect(forward.remotePort).toBe(vmPort);
        expect(forward.localPort).not.toBe(vmPort);
        expect(forward.url).toBe(`http://127.0.0.1:${forward.localPort}/`);
        const answers = await Promise.all(Array.from({ length: 100 }, () => get(`${forward.url}hello.txt`)));
        expect(
          answers.filter((answer) => "status" in answer && answer.body === "hello from the VM\n"),
        ).toHaveLength(100);
        const response = await fetch(`${forward.url}big.bin`);
        expect(response.status).toBe(200);
        const body = new Uint8Array(await response.arrayBuffer());
        expect(body.length).toBe(BIG_BYTES);
        expect(createHash("sha256").update(body).digest("hex")).toBe(bigSha);
      } finally {
        await forward.close();
      }
    }, 120_000);

    it("listens on the local port asked for, and refuses connections once closed", async () => {
      const wanted = await freePort();
      const forward = await sandbox.forwardPort(vmPort, { localPort: wanted });
      expect(forward.localPort).toBe(wanted);
      expect(await get(`${forward.url}hello.txt`)).toEqual({ status: 200, body: "hello from the VM\n" });
      await forward.close();
      await forward.close();
      expect(await tryConnect(wanted)).toBe("ECONNREFUSED");
      await expectSandboxError(sandbox.forwardPort(vmPort, { localPort: localPort }), "already_exists");
    });

    it("drops a connection the VM refuses, and reaches a server that starts later on the same forward", async () => {
      const port = await freePort();
      const forward = await sandbox.forwardPort(port);
      let late: SandboxProcess | undefined;
      try {
        expect("failed" in (await get(forward.url))).toBe(true);
        late = await sandbox.spawn(`exec ${PYTHON} -m http.server ${port} --bind 127.0.0.1`, { cwd: root });
        await sandbox.waitForPort(port, { timeoutMs: 15_000 });
        expect(await get(`${forward.url}hello.txt`)).toEqual({ status: 200, body: "hello from the VM\n" });
      } finally {
        await late?.kill("SIGKILL");
        await late?.wait().catch(() => {});
        await forward.close();
      }
      expect(await remainingProcesses(sandbox, `http.server ${port}`)).toBe("");
    });

    it("exposes a local port to the VM, and stops when closed", async () => {
      const remotePort = await freePort();
      const exposed = await sandbox.exposeLocalPort(localPort, { remotePort });
      expect(exposed).toMatchObject({ localPort, remotePort });
      const curl = `curl -sS --max-time 10 http://127.0.0.1:${remotePort}/from-vm`;
      const reached = await sandbox.exec(curl);
      expect(reached.stdout, reached.stderr).toBe("local answer to /from-vm");
      await exposed.close();
      await exposed.close();
      const after = await sandbox.exec(curl);
      expect(after.exitCode).not.toBe(0);
    });

    it("exposes on a port the server picks when remotePort is 0", async () => {
      const exposed = await sandbox.exposeLocalPort(localPort, { remotePort: 0 });
      try {
        expect(exposed.remotePort).toBeGreaterThan(0);
        const reached = await sandbox.exec(
          `curl -sS --max-time 10 http://127.0.0.1:${exposed.remotePort}/picked`,
        );
        expect(reached.stdout, reached.stderr).toBe("local answer to /picked");
      } finally {
        await exposed.close();
      }
    });

    it.skipIf(!options.dropConnections)(
      "forwards both ways again after the connection is cut",
      async () => {
        const forward = await sandbox.forwardPort(vmPort);
        const remotePort = await freePort();
        const exposed = await sandbox.exposeLocalPort(localPort, { remotePort });
        try {
          expect(await get(`${forward.url}hello.txt`)).toEqual({ status: 200, body: "hello from the VM\n" });
          await options.dropConnections?.();
          await sleep(200);
          // The first connection after the cut waits for the reconnect, then goes through.
          expect(await get(`${forward.url}hello.txt`)).toEqual({ status: 200, body: "hello from the VM\n" });
          // The remote forward is asked for again on the new connection.
          let reached = "";
          for (let i = 0; i < 50 && reached === ""; i++) {
            reached = (
              await sandbox.exec(`curl -s --max-time 5 http://127.0.0.1:${remotePort}/again || true`)
            ).stdout;
            if (reached === "") await sleep(100);
          }
          expect(reached).toBe("local answer to /again");
        } finally {
          await exposed.close();
          await forward.close();
        }
      },
      60_000,
    );

    it("closes its forwards with the sandbox", async () => {
      const other = await options.create();
      const forward = await other.forwardPort(vmPort);
      const remotePort = await freePort();
      await other.exposeLocalPort(localPort, { remotePort });
      expect(await get(`${forward.url}hello.txt`)).toEqual({ status: 200, body: "hello from the VM\n" });
      await other.close();
      expect(await tryConnect(forward.localPort)).toBe("ECONNREFUSED");
      await expectSandboxError(other.forwardPort(vmPort), "closed");
      const after = await sandbox.exec(`curl -sS --max-time 5 http://127.0.0.1:${remotePort}/`);
      expect(after.exitCode).not.toBe(0);
    });

    it("rejects bad ports and options with invalid_argument before any I/O", async () => {
      for (const bad of [0, -1, 65_536, 1.5, Number.NaN, "80" as unknown as number]) {
        await expectSandboxError(sandbox.forwardPort(bad), "invalid_argument");
        await expectSandboxError(sandbox.exposeLocalPort(bad), "invalid_argument");
      }
      await expectSandboxError(sandbox.forwardPort(vmPort, { localPort: 70_000 }), "invalid_argument");
      await expectSandboxError(
        sandbox.forwardPort(vmPort, { localport: 1 } as unknown as { localPort: number }),
        "invalid_argument",
      );
      await expectSandboxError(sandbox.exposeLocalPort(localPort, { localHost: "" }), "invalid_argument");
      await expectSandboxError(sandbox.exposeLocalPort(localPort, { remotePort: -2 }), "invalid_argument");
    });
  });
}
