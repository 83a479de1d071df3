import { describeWithSshd, type SshdServer, startSshd } from "@exedev-sandbox/testing";
import type { Client } from "ssh2";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectSandbox } from "../index.js";
import { skipHostKeyProofs } from "./host-keys-notice.js";
import { lineRightAfter, recordSsh2Debug } from "./ssh2-debug-test-support.js";
import { SshClient } from "./ssh2-runtime.js";

const NOTICE = "Inbound: GLOBAL_REQUEST (hostkeys-00@openssh.com)";
const PROVE = "Outbound: Sending GLOBAL_REQUEST (hostkeys-prove-00@openssh.com)";

describeWithSshd("sshd's host-keys notice", () => {
  let server: SshdServer;
  beforeAll(async () => {
    server = await startSshd();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Connects a bare ssh2 client, optionally skipping the proofs; its debug log once sshd's notice came. */
  async function bareConnect(skip: boolean): Promise<{ lines: string[]; changed: boolean }> {
    const lines: string[] = [];
    const client = new SshClient();
    const noticed = new Promise<void>((resolve, reject) => {
      client.once("error", reject);
      client.once("ready", () => {
        // sshd sends the notice right after USERAUTH_SUCCESS, so it has come once a command ran.
        client.exec("true", (error, channel) =>
          error ? reject(error) : channel.on("close", resolve).resume(),
        );
      });
    });
    client.connect({
      host: server.host,
      port: server.port,
      username: server.username,
      privateKey: server.privateKey,
      debug: (line) => lines.push(line),
    });
    const changed = skip ? skipHostKeyProofs(client) : false;
    try {
      await noticed;
    } finally {
      client.end();
    }
    return { lines, changed };
  }

  it("this ssh2 answers it with a prove request (what skipHostKeyProofs removes)", async () => {
    // Fails when an ssh2 upgrade changes this; then revisit host-keys-notice.ts.
    const { lines } = await bareConnect(false);
    expect(lines).toContain(NOTICE);
    expect(lines).toContain(PROVE);
  });

  it("is answered with an IGNORE at once instead, on this ssh2", async () => {
    const { lines, changed } = await bareConnect(true);
    expect(changed).toBe(true);
    expect(lines).toContain(NOTICE);
    expect(lines).not.toContain(PROVE);
    expect(lineRightAfter(lines, NOTICE, "Outbound: Sending IGNORE")).toBe(true);
  });

  it("connectSandbox sends no prove request, and the sandbox works", async () => {
    const lines = recordSsh2Debug();
    const sandbox = await connectSandbox(server.connectOptions());
    try {
      expect((await sandbox.exec("echo ok")).stdout).toBe("ok\n");
    } finally {
      await sandbox.close();
    }
    expect(lines).toContain(NOTICE);
    expect(lines).not.toContain(PROVE);
    expect(lineRightAfter(lines, NOTICE, "Outbound: Sending IGNORE")).toBe(true);
  });

  it("leaves a client alone when the internals are not there", () => {
    expect(skipHostKeyProofs(new SshClient())).toBe(false); // not connecting: no protocol yet
    const handlers = { GLOBAL_REQUEST: () => {} };
    const lookalike = { _protocol: { _handlers: handlers } } as unknown as Client;
    const before = handlers.GLOBAL_REQUEST;
    expect(skipHostKeyProofs(lookalike)).toBe(false);
    expect(handlers.GLOBAL_REQUEST).toBe(before);
  });
});
