import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { format, inspect } from "node:util";
import {
  describeWithSshd,
  expectSandboxError,
  type SshdServer,
  startForwarder,
  startSshd,
} from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectSandbox, isSandboxError } from "../index.js";
import { generateSshKeyPair } from "./key-pair.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-ssh-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
function scratchFile(name: string, content = ""): string {
  const path = join(scratch, `${counter++}-${name}`);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

describeWithSshd("connectSandbox against OpenSSH", () => {
  let server: SshdServer;
  beforeAll(async () => {
    server = await startSshd();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const base = () => ({ host: server.host, port: server.port, username: server.username });

  describe("host keys", () => {
    it("accept-new records an unknown host, then trusts it", async () => {
      const knownHostsPath = scratchFile("known_hosts");
      const first = await connectSandbox({ ...base(), privateKey: server.privateKey, knownHostsPath });
      await first.close();
      const recorded = readFileSync(knownHostsPath, "utf8");
      expect(recorded).toContain(`[127.0.0.1]:${server.port} ssh-ed25519 `);
      const again = await connectSandbox({
        ...base(),
        privateKey: server.privateKey,
        knownHostsPath,
        hostKey: "strict",
      });
      expect((await again.exec("echo ok")).stdout).toBe("ok\n");
      await again.close();
    });

    it("refuses a changed host key and names the fingerprint it saw", async () => {
      const other = generateSshKeyPair().publicKey;
      const knownHostsPath = scratchFile("known_hosts", `[127.0.0.1]:${server.port} ${other}\n`);
      const error = await connectSandbox({ ...base(), privateKey: server.privateKey, knownHostsPath }).catch(
        (e) => e,
      );
      expect(isSandboxError(error, "host_key_mismatch")).toBe(true);
      expect(error.message).toContain(server.hostKeyFingerprint);
      expect(error.details.fingerprint).toBe(server.hostKeyFingerprint);
      expect(readFileSync(knownHostsPath, "utf8")).toBe(`[127.0.0.1]:${server.port} ${other}\n`); // untouched
    });

    it("strict refuses an unknown host", async () => {
      const knownHostsPath = scratchFile("known_hosts");
      await expectSandboxError(
        connectSandbox({ ...base(), privateKey: server.privateKey, knownHostsPath, hostKey: "strict" }),
        "host_key_mismatch",
      );
      expect(readFileSync(knownHostsPath, "utf8")).toBe("");
    });

    it("matches hashed known_hosts entries written by ssh-keygen -H", async () => {
      const publicKey = execFileSync("ssh-keygen", ["-y", "-f", join(server.dir, "host_ed25519")], {
        encoding: "utf8",
      });
      const knownHostsPath = scratchFile("known_hosts", `[127.0.0.1]:${server.port} ${publicKey}`);
      execFileSync("ssh-keygen", ["-H", "-f", knownHostsPath], { stdio: "ignore" });
      expect(readFileSync(knownHostsPath, "utf8")).toMatch(/^\|1\|/);
      const sandbox = await connectSandbox({
        ...base(),
        privateKey: server.privateKey,
        knownHostsPath,
        hostKey: "strict",
      });
      await sandbox.close();
    });

    it("honours @revoked entries", async () => {
      const publicKey = execFileSync("ssh-keygen", ["-y", "-f", join(server.dir, "host_ed25519")], {
        encoding: "utf8",
      });
      const knownHostsPath = scratchFile("known_hosts", `@revoked * ${publicKey}`);
      await expectSandboxError(
        connectSandbox({ ...base(), privateKey: server.privateKey, knownHostsPath }),
        "host_key_mismatch",
      );
    });

    it("accepts only the pinned fingerprint", async () => {
      const knownHostsPath = scratchFile("known_hosts");
      const pinned = await connectSandbox({
        ...base(),
        privateKey: server.privateKey,
        knownHostsPath,
        hostKey: { sha256: server.hostKeyFingerprint },
      });
      await pinned.close();
      const wrong = `SHA256:${"A".repeat(43)}`;
      await expectSandboxError(
        connectSandbox({
          ...base(),
          privateKey: server.privateKey,
          knownHostsPath,
          hostKey: { sha256: wrong },
        }),
        "host_key_mismatch",
      );
    });
  });

  describe("known_hosts configuration errors", () => {
    const connections = () => server.logs().split("Connection from").length;
    const expectConfigError = async (knownHostsPath: string) => {
      const before = connections();
      const error = await connectSandbox({ ...base(), privateKey: server.privateKey, knownHostsPath }).catch(
        (e) => e,
      );
      expect(isSandboxError(error, "invalid_argument"), String(error)).toBe(true);
      expect(error.retryable).toBe(false);
      expect(error.message).toContain("knownHostsPath");
      expect(error.message).toContain(knownHostsPath);
      expect(error.message).not.toContain("PRIVATE KEY");
      return { error, connected: connections() > before };
    };

    it("a directory is invalid_argument naming knownHostsPath, before any connection", async () => {
      const dir = mkdtempSync(join(scratch, "kh-dir-"));
      const { error, connected } = await expectConfigError(dir);
      expect(error.message).toContain("is a directory");
      expect(connected).toBe(false);
    });

    it("an unreadable file is invalid_argument naming knownHostsPath, before any connection", async () => {
      const loop = join(scratch, `kh-loop-${counter++}`);
      symlinkSync(loop, loop); // ELOOP: unreadable even for root
      expect((await expectConfigError(loop)).connected).toBe(false);
      const underFile = join(scratchFile("plain"), "known_hosts"); // ENOTDIR
      expect((await expectConfigError(underFile)).connected).toBe(false);
    });

    it("a known_hosts that accept-new cannot write is invalid_argument, not retried", async () => {
      const started = Date.now();
      // Readable (no entries match) but not writable, even for root.
      const { error } = await expectConfigError("/proc/version");
      expect(error.message).toMatch(/cannot be used/);
      expect(Date.now() - started).toBeLessThan(3000);
    });

    it("policies that never read known_hosts do not check it", async () => {
      const dir = mkdtempSync(join(scratch, "kh-dir-"));
      const sandbox = await connectSandbox({ ...server.connectOptions(), knownHostsPath: dir });
      await sandbox.close();
    });
  });

  describe("secrets", () => {
    it("util.inspect and console.log of a sandbox show no key material, passphrase or agent socket", async () => {
      const keyPath = scratchFile("inspect-key", server.privateKey);
      execFileSync("ssh-keygen", ["-p", "-f", keyPath, "-N", "hunter2-passphrase", "-P", ""], {
        stdio: "ignore",
      });
      const encrypted = readFileSync(keyPath, "utf8");
      const agentSocket = join(scratch, "no-such-agent.sock");
      const sandbox = await connectSandbox({
        ...base(),
        privateKey: encrypted,
        passphrase: "hunter2-passphrase",
        agent: agentSocket,
        knownHostsPath: scratchFile("known_hosts"),
      });
      await sandbox.exec("true");
      await sandbox.readFile("/etc/hostname"); // opens SFTP too
      const body = encrypted
        .split("\n")
        .filter((line) => line && !line.startsWith("-----"))
        .join("");
      const secrets = [
        "PRIVATE KEY",
        "hunter2-passphrase",
        agentSocket,
        body.slice(0, 40),
        body.slice(-40),
        Buffer.from(body, "base64").toString("hex").slice(0, 40),
      ];
      const views = [
        inspect(sandbox, { depth: Number.POSITIVE_INFINITY }),
        inspect(sandbox, { depth: Number.POSITIVE_INFINITY, showHidden: true, getters: true }),
        (() => {
          const seen = new WeakSet();
          return JSON.stringify(sandbox, (_key, value) => {
            if (typeof value === "object" && value !== null) {
              if (seen.has(value)) return undefined;
              seen.add(value);
            }
            return value;
          });
        })(),
        format("%o", sandbox),
      ];
      for (const view of views) {
        for (const secret of secrets) expect(view).not.toContain(secret);
      }
      expect(views[0]).toContain(String(server.port)); // still useful: where it is connected
      await sandbox.close();
    });
  });

  describe("authentication", () => {
    const knownHostsPath = () => scratchFile("known_hosts");

    it("fails with one error listing what was tried, without key material", async () => {
      const wrong = generateSshKeyPair().privateKey;
      const error = await connectSandbox({
        ...base(),
        privateKey: wrong,
        knownHostsPath: knownHostsPath(),
      }).catch((e) => e);
      expect(isSandboxError(error, "auth_failed")).toBe(true);
      expect(error.message).toContain("the privateKey option");
      expect(error.message).not.toContain("PRIVATE KEY");
      expect(JSON.stringify(error.details)).not.toContain("PRIVATE KEY");
    });

    it("falls through a key that does not work to one that does", async () => {
      const wrong = generateSshKeyPair().privateKey;
      const keyPath = scratchFile("id_ed25519", server.privateKey);
      const sandbox = await connectSandbox({
        ...base(),
        privateKey: wrong,
        privateKeyPath: keyPath,
        knownHostsPath: knownHostsPath(),
      });
      expect((await sandbox.exec("echo in")).stdout).toBe("in\n");
      await sandbox.close();
    });

    it("reads encrypted keys with a passphrase, and rejects them without", async () => {
      const keyPath = scratchFile("encrypted", server.privateKey);
      execFileSync("ssh-keygen", ["-p", "-f", keyPath, "-N", "correct horse", "-P", ""], { stdio: "ignore" });
      const sandbox = await connectSandbox({
        ...base(),
        privateKeyPath: keyPath,
        passphrase: "correct horse",
        knownHostsPath: knownHostsPath(),
      });
      await sandbox.close();
      const error = await connectSandbox({
        ...base(),
        privateKeyPath: keyPath,
        knownHostsPath: knownHostsPath(),
      }).catch((e) => e);
      expect(isSandboxError(error, "invalid_argument")).toBe(true);
      expect(error.message).toContain("passphrase");
    });

    it("uses $EXE_SSH_KEY", async () => {
      const keyPath = scratchFile("env-key", server.privateKey);
      const previous = process.env.EXE_SSH_KEY;
      process.env.EXE_SSH_KEY = keyPath;
      try {
        const sandbox = await connectSandbox({ ...base(), knownHostsPath: knownHostsPath() });
        await sandbox.close();
      } finally {
        if (previous === undefined) delete process.env.EXE_SSH_KEY;
        else process.env.EXE_SSH_KEY = previous;
      }
    });

    it("authenticates through a real ssh-agent", async () => {
      const socket = join(scratch, `agent-${counter++}.sock`);
      const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
      try {
        for (let i = 0; i < 50; i++) {
          try {
            execFileSync("ssh-add", ["-l"], { env: { SSH_AUTH_SOCK: socket }, stdio: "ignore" });
          } catch (error) {
            // exit 1 = agent up with no identities; 2 = cannot connect yet
            if ((error as { status?: number }).status === 1) break;
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const keyPath = scratchFile("agent-key", server.privateKey);
        execFileSync("ssh-add", [keyPath], { env: { SSH_AUTH_SOCK: socket }, stdio: "ignore" });
        const sandbox = await connectSandbox({ ...base(), agent: socket, knownHostsPath: knownHostsPath() });
        expect((await sandbox.exec("echo agent")).stdout).toBe("agent\n");
        await sandbox.close();
      } finally {
        agent.kill();
      }
    });
  });

  describe("connecting", () => {
    it("rejects bad options with invalid_argument before any I/O", async () => {
      await expectSandboxError(connectSandbox({} as never), "invalid_argument");
      await expectSandboxError(connectSandbox({ host: "" }), "invalid_argument");
      await expectSandboxError(connectSandbox({ host: "h", port: 70000 }), "invalid_argument");
      await expectSandboxError(connectSandbox({ host: "h", maxChannels: 1 }), "invalid_argument");
      await expectSandboxError(connectSandbox({ host: "h", hostKey: "maybe" as never }), "invalid_argument");
      await expectSandboxError(
        connectSandbox({ host: "h", hostKey: { sha256: "nope" } }),
        "invalid_argument",
      );
      await expectSandboxError(connectSandbox({ host: "h", privateKey: "not a key" }), "invalid_argument");
      await expectSandboxError(connectSandbox({ host: "h", connectRetryMs: -5 }), "invalid_argument");
    });

    it("reports a closed port as connection_failed, and retries it for connectRetryMs", async () => {
      const closedPort = server.port === 1 ? 2 : 1;
      const started = Date.now();
      const error = await connectSandbox({
        host: "127.0.0.1",
        port: closedPort,
        privateKey: server.privateKey,
      }).catch((e) => e);
      expect(isSandboxError(error, "connection_failed")).toBe(true);
      expect(error.retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(1000);
      const retried = Date.now();
      await expectSandboxError(
        connectSandbox({
          host: "127.0.0.1",
          port: closedPort,
          privateKey: server.privateKey,
          connectRetryMs: 1200,
        }),
        "connection_failed",
      );
      expect(Date.now() - retried).toBeGreaterThanOrEqual(700);
    });

    it("never retries an authentication failure", async () => {
      const started = Date.now();
      await expectSandboxError(
        connectSandbox({
          ...base(),
          privateKey: generateSshKeyPair().privateKey,
          knownHostsPath: scratchFile("known_hosts"),
          connectRetryMs: 10_000,
        }),
        "auth_failed",
      );
      expect(Date.now() - started).toBeLessThan(3000);
    });

    it("opens 50 sandboxes at once without sshd dropping a single handshake", async () => {
      const sandboxes = await Promise.all(
        Array.from({ length: 50 }, () => connectSandbox({ ...server.connectOptions() })),
      );
      const outputs = await Promise.all(sandboxes.map((s, i) => s.exec(`echo ${i}`)));
      expect(outputs.map((o) => o.stdout)).toEqual(sandboxes.map((_, i) => `${i}\n`));
      await Promise.all(sandboxes.map((s) => s.close()));
      expect(server.logs()).not.toMatch(/past MaxStartups|drop connection/i);
    });
  });
});

describeWithSshd("connection failures against OpenSSH", () => {
  it("stays within a server's lower MaxSessions by retrying refused channels", async () => {
    const server = await startSshd({ maxSessions: 3 });
    try {
      const sandbox = await connectSandbox({ ...server.connectOptions(), maxChannels: 10 });
      await sandbox.writeFile(`${sandbox.homeDir}/sessions-probe`, "x"); // SFTP holds one of the 3
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => sandbox.exec(`sleep 0.05; echo ${i}`)),
      );
      expect(results.map((r) => r.stdout)).toEqual(results.map((_, i) => `${i}\n`));
      await sandbox.rm(`${sandbox.homeDir}/sessions-probe`);
      await sandbox.close();
    } finally {
      await server.stop();
    }
  });

  it("detects a hung server with keepalive instead of waiting forever", async () => {
    const server = await startSshd();
    try {
      const sandbox = await connectSandbox({ ...server.connectOptions(), keepaliveIntervalMs: 300 });
      expect((await sandbox.exec("echo before")).stdout).toBe("before\n");
      const thaw = server.freezeConnections();
      const started = Date.now();
      // The command cannot run on the frozen connection; keepalive notices within ~1 s, the
      // connection is re-established, and the call reports that its fate is unknown.
      await expectSandboxError(sandbox.exec("echo during"), "connection_failed");
      expect(Date.now() - started).toBeLessThan(5000);
      thaw();
      expect((await sandbox.exec("echo after")).stdout).toBe("after\n");
      await sandbox.close();
    } finally {
      await server.stop();
    }
  });

  it("reports sandbox_died for a call made the moment the network path is cut", async () => {
    const server = await startSshd();
    // A TCP hop in front of sshd, so the path can vanish at an exact moment.
    const hop = await startForwarder(server);
    try {
      const sandbox = await connectSandbox({
        ...server.connectOptions(),
        port: hop.port,
        knownHostsPath: scratchFile("kh-hop"),
        reconnectMs: 1_000,
      });
      expect((await sandbox.exec("echo via-hop")).stdout).toBe("via-hop\n");
      const cut = hop.kill(); // cuts the path synchronously
      // Same tick as the cut: the call must still end as sandbox_died, not hang or reconnect.
      await expectSandboxError(sandbox.exec("echo gone"), "sandbox_died");
      await cut;
      await sandbox.close();
    } finally {
      await server.stop();
    }
  });

  it("rejects with sandbox_died once the server is gone for good", async () => {
    const server = await startSshd();
    const sandbox = await connectSandbox({ ...server.connectOptions(), reconnectMs: 1_000 });
    expect((await sandbox.exec("echo alive")).stdout).toBe("alive\n");
    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expectSandboxError(sandbox.exec("echo gone"), "sandbox_died");
    const started = Date.now();
    await expectSandboxError(sandbox.readFile("/etc/hostname"), "sandbox_died");
    expect(Date.now() - started).toBeLessThan(100); // dead is remembered, not re-dialled every call
    await sandbox.close();
  });
});
