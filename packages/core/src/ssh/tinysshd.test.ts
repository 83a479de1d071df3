import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeWithTinysshd, startTinysshd, type TinysshdServer } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { generateSshKeyPair } from "./key-pair.js";
import { connectSandbox } from "./ssh-sandbox.js";

// tinysshd ends a connection when its one session channel closes, so every call after the first
// used to fail with a misleading connection_failed. Now connecting says what is wrong, before
// any credential is offered (the server here knows no key at all).
describeWithTinysshd("SshSandbox against tinysshd", () => {
  let server: TinysshdServer;
  const scratch = mkdtempSync(join(tmpdir(), "exedev-tinysshd-client-"));
  beforeAll(async () => {
    server = await startTinysshd();
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("refuses to connect with unsupported, naming the server, not as a connection or auth failure", async () => {
    const started = Date.now();
    const error = await connectSandbox({
      host: server.host,
      port: server.port,
      privateKey: generateSshKeyPair().privateKey,
      knownHostsPath: join(scratch, "known_hosts"),
      hostKey: "off",
      connectRetryMs: 5_000,
    }).catch((rejection: unknown) => rejection);
    expect(error).toMatchObject({ code: "unsupported", retryable: false });
    expect((error as Error).message).toMatch(/tinysshd/);
    expect((error as { details?: { serverSoftware?: string } }).details?.serverSoftware).toMatch(/^tinyssh/);
    // Not retried as a network failure for connectRetryMs.
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});
