import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  describeWithAsyncssh,
  describeWithDropbear,
  describeWithSshd,
  isRoot,
  startAsyncsshServer,
  startDropbear,
  startSshd,
  type TestSshServer,
  UNPRIVILEGED_TEST_USER,
} from "@exedev-sandbox/testing";
import type { Client } from "ssh2";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectSandbox, isSandboxError } from "../index.js";
import { enableDirectAuth } from "./direct-auth.js";
import { generateSshKeyPair } from "./key-pair.js";
import { lineRightAfter, recordSsh2Debug } from "./ssh2-debug-test-support.js";
import { SshClient } from "./ssh2-runtime.js";

// Auth round trips are counted as messages, not timed: ssh2's `debug` log names every
// USERAUTH_REQUEST it sends ("publickey -- check" for a query without signature) and every
// message it receives, so the tests see exactly what went over the wire and in which order.

const scratch = mkdtempSync(join(tmpdir(), "exedev-direct-auth-"));
const PASSPHRASE = "correct horse";

/** The key kinds ssh-keygen makes, in the formats users have them in. */
const KEY_KINDS: ReadonlyArray<{ name: string; args: string[]; encrypted?: boolean }> = [
  { name: "ed25519", args: ["-t", "ed25519"] },
  { name: "ecdsa P-256", args: ["-t", "ecdsa", "-b", "256"] },
  { name: "ecdsa P-384", args: ["-t", "ecdsa", "-b", "384"] },
  { name: "ecdsa P-521", args: ["-t", "ecdsa", "-b", "521"] },
  { name: "rsa 2048", args: ["-t", "rsa", "-b", "2048"] },
  { name: "rsa 2048 (PEM)", args: ["-t", "rsa", "-b", "2048", "-m", "PEM"] },
  { name: "ecdsa P-256 (PEM)", args: ["-t", "ecdsa", "-b", "256", "-m", "PEM"] },
  { name: "ed25519, encrypted", args: ["-t", "ed25519"], encrypted: true },
  { name: "rsa 2048, encrypted", args: ["-t", "rsa", "-b", "2048"], encrypted: true },
  { name: "rsa 2048 (PEM), encrypted", args: ["-t", "rsa", "-b", "2048", "-m", "PEM"], encrypted: true },
];

interface KeyFile {
  name: string;
  path: string;
  publicKey: string;
  passphrase: string | undefined;
}

let keyCounter = 0;
function makeKey(kind: (typeof KEY_KINDS)[number]): KeyFile {
  const path = join(scratch, `key-${keyCounter++}`);
  const passphrase = kind.encrypted ? PASSPHRASE : "";
  execFileSync("ssh-keygen", [...kind.args, "-N", passphrase, "-C", "", "-q", "-f", path], {
    stdio: "ignore",
  });
  return {
    name: kind.name,
    path,
    publicKey: readFileSync(`${path}.pub`, "utf8").trim(),
    passphrase: kind.encrypted ? PASSPHRASE : undefined,
  };
}

const keys = KEY_KINDS.map(makeKey);

// Only the credentials a test names are offered: no ~/.ssh keys, no $SSH_AUTH_SOCK.
const savedEnv = {
  HOME: process.env.HOME,
  SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK,
  EXE_SSH_KEY: process.env.EXE_SSH_KEY,
};
beforeAll(() => {
  const home = join(scratch, "home");
  mkdirSync(home, { recursive: true });
  process.env.HOME = home;
  delete process.env.SSH_AUTH_SOCK;
  delete process.env.EXE_SSH_KEY;
});
afterAll(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** The USERAUTH_REQUESTs sent, by ssh2's name for them: "publickey" (signed) or "publickey -- check". */
function authRequests(lines: string[]): string[] {
  return lines.flatMap((line) => /^Outbound: Sending USERAUTH_REQUEST \((.*)\)$/.exec(line)?.[1] ?? []);
}

/** Whether the first auth request went out before the server's SERVICE_ACCEPT came in. */
function authBeforeServiceAccept(lines: string[]): boolean {
  const request = lines.findIndex((line) => line.startsWith("Outbound: Sending USERAUTH_REQUEST"));
  const accept = lines.findIndex((line) => line.startsWith("Inbound: Received SERVICE_ACCEPT"));
  return request !== -1 && accept !== -1 && request < accept;
}

/** Whether the client answered SERVICE_ACCEPT with an IGNORE at once (see direct-auth.ts: Nagle). */
function ignoreRightAfterServiceAccept(lines: string[]): boolean {
  return lineRightAfter(lines, "Inbound: Received SERVICE_ACCEPT", "Outbound: Sending IGNORE");
}

interface ServerUnderTest {
  server: TestSshServer;
  /** Where this server reads its authorised keys. */
  authorizedKeysPath: string;
}

/** The auth contract on one server: every key kind, a wrong key first, and all-wrong keys. */
function defineAuthTests(start: () => Promise<ServerUnderTest>): void {
  let subject: ServerUnderTest;
  beforeAll(async () => {
    subject = await start();
    appendFileSync(subject.authorizedKeysPath, `${keys.map((key) => key.publicKey).join("\n")}\n`);
  });
  afterAll(async () => {
    await subject?.server.stop();
  });

  for (const key of keys) {
    it(`${key.name}: falls through a wrong key to this one, each signed at once`, async () => {
      const lines = recordSsh2Debug();
      const sandbox = await connectSandbox({
        ...subject.server.connectOptions(),
        privateKey: generateSshKeyPair().privateKey,
        privateKeyPath: key.path,
        passphrase: key.passphrase,
      });
      try {
        expect((await sandbox.exec("echo in")).stdout).toBe("in\n");
      } finally {
        await sandbox.close();
      }
      expect(authRequests(lines)).toEqual(["publickey", "publickey"]);
      expect(authBeforeServiceAccept(lines)).toBe(true);
      expect(ignoreRightAfterServiceAccept(lines)).toBe(true);
    });
  }

  it("keys the server refuses are still auth_failed, each offered once", async () => {
    const lines = recordSsh2Debug();
    const wrongPath = join(scratch, `wrong-${keyCounter++}`);
    execFileSync("ssh-keygen", ["-t", "rsa", "-b", "2048", "-N", "", "-q", "-f", wrongPath], {
      stdio: "ignore",
    });
    const error = await connectSandbox({
      ...subject.server.connectOptions(),
      privateKey: generateSshKeyPair().privateKey,
      privateKeyPath: wrongPath,
    }).catch((e: unknown) => e);
    expect(isSandboxError(error, "auth_failed")).toBe(true);
    expect((error as Error).message).toContain("the privateKey option");
    expect((error as Error).message).toContain(`privateKeyPath (${wrongPath})`);
    expect(authRequests(lines)).toEqual(["publickey", "publickey"]);
  });
}

const logins = isRoot() ? [undefined, UNPRIVILEGED_TEST_USER] : [undefined];
for (const username of logins) {
  const who = username ?? "the current user";
  describeWithSshd(`direct auth on OpenSSH, as ${who}`, () => {
    defineAuthTests(async () => {
      const server = await startSshd({ username });
      return { server, authorizedKeysPath: join(server.dir, "authorized_keys") };
    });
  });
  describeWithDropbear(`direct auth on Dropbear, as ${who}`, () => {
    defineAuthTests(async () => {
      const server = await startDropbear({ username });
      return { server, authorizedKeysPath: join(server.dir, "ssh", "authorized_keys") };
    });
  });
}
describeWithAsyncssh("direct auth on asyncssh", () => {
  defineAuthTests(async () => {
    const server = await startAsyncsshServer();
    return { server, authorizedKeysPath: join(server.dir, "authorized_keys") };
  });
});

describeWithAsyncssh("direct auth signs RSA with the algorithm the server lists", () => {
  const rsa = keys.find((key) => key.name === "rsa 2048") as KeyFile;
  // asyncssh accepts only these signatures and lists only them in server-sig-algs, so a signature
  // made with another hash than the algorithm it names is refused.
  for (const algorithm of ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]) {
    it(`${algorithm} only`, async () => {
      const server = await startAsyncsshServer({ signatureAlgs: [algorithm] });
      try {
        appendFileSync(join(server.dir, "authorized_keys"), `${rsa.publicKey}\n`);
        const lines = recordSsh2Debug();
        const { privateKey: _authorized, ...options } = server.connectOptions();
        const sandbox = await connectSandbox({ ...options, privateKeyPath: rsa.path });
        await sandbox.close();
        expect(authRequests(lines)).toEqual(["publickey"]);
      } finally {
        await server.stop();
      }
    });
  }
});

describeWithSshd("direct auth: what it relies on", () => {
  let server: TestSshServer;
  beforeAll(async () => {
    server = await startSshd();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Connects a bare ssh2 client with `privateKey`, optionally with direct auth; its debug log. */
  async function bareConnect(direct: boolean): Promise<{ lines: string[]; enabled: boolean }> {
    const lines: string[] = [];
    const client = new SshClient();
    const ready = new Promise<void>((resolve, reject) => {
      client.once("ready", resolve);
      client.once("error", reject);
    });
    client.connect({
      host: server.host,
      port: server.port,
      username: server.username,
      privateKey: server.privateKey,
      authHandler: ["publickey"],
      debug: (line) => lines.push(line),
    });
    const enabled = direct ? enableDirectAuth(client) : false;
    try {
      await ready;
    } finally {
      client.end();
    }
    return { lines, enabled };
  }

  it("this ssh2 queries a key before signing and waits for SERVICE_ACCEPT (what direct auth removes)", async () => {
    // Fails when an ssh2 upgrade changes either; then revisit direct-auth.ts.
    const { lines } = await bareConnect(false);
    expect(authRequests(lines)).toEqual(["publickey -- check", "publickey"]);
    expect(authBeforeServiceAccept(lines)).toBe(false);
  });

  it("this ssh2 has the internals direct auth wraps, and it then signs at once behind SERVICE_REQUEST", async () => {
    const { lines, enabled } = await bareConnect(true);
    expect(enabled).toBe(true);
    expect(authRequests(lines)).toEqual(["publickey"]);
    expect(authBeforeServiceAccept(lines)).toBe(true);
    expect(ignoreRightAfterServiceAccept(lines)).toBe(true);
  });

  it("leaves a client alone when the internals are not there", () => {
    expect(enableDirectAuth(new SshClient())).toBe(false); // not connecting: no protocol yet
    const protocol = {
      authPK: (_u: string, _k: unknown, _a: unknown, _s: unknown) => {},
      service: () => {},
      _handlers: {},
    };
    const before = { ...protocol };
    const lookalike = { _protocol: protocol } as unknown as Client;
    expect(enableDirectAuth(lookalike)).toBe(false);
    expect(protocol).toEqual(before);
  });

  it("keeps the query for ssh-agent keys", async () => {
    const socket = join(scratch, `agent-${keyCounter++}.sock`);
    const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
    try {
      for (let i = 0; i < 100; i++) {
        try {
          execFileSync("ssh-add", ["-l"], { env: { SSH_AUTH_SOCK: socket }, stdio: "ignore" });
        } catch (error) {
          // exit 1 = agent up with no identities; 2 = cannot connect yet
          if ((error as { status?: number }).status === 1) break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const keyPath = join(scratch, `agent-key-${keyCounter++}`);
      appendFileSync(keyPath, server.privateKey, { mode: 0o600 });
      execFileSync("ssh-add", [keyPath], { env: { SSH_AUTH_SOCK: socket }, stdio: "ignore" });
      const lines = recordSsh2Debug();
      const { privateKey: _unused, ...options } = server.connectOptions();
      const sandbox = await connectSandbox({ ...options, agent: socket });
      await sandbox.close();
      // (Auth starts behind the service request here too, but the agent's list of keys comes
      // back over a local socket, so on loopback the order against SERVICE_ACCEPT is a race.)
      expect(authRequests(lines)).toEqual(["publickey -- check", "publickey"]);
    } finally {
      agent.kill();
    }
  });
});
