import { execFileSync } from "node:child_process";
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeWithSshd, type SshdServer, startSshd } from "@exedev-sandbox/testing";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { connectSandbox, createExeDevSandbox, isSandboxError, type SandboxError } from "../index.js";

// What a newcomer's key set-up runs into: no key at all, `~` in a path, keys as node:crypto
// writes them (PKCS#8), an exe.dev that does not know the key, and pinning the host key from the
// environment instead of trusting on first use into ~/.ssh/known_hosts.

const scratch = mkdtempSync(join(tmpdir(), "exedev-key-sources-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ENV_NAMES = ["HOME", "EXE_SSH_KEY", "SSH_AUTH_SOCK", "EXE_SSH_HOST_KEY_SHA256"] as const;
let savedEnv: Partial<Record<(typeof ENV_NAMES)[number], string | undefined>> = {};
let home: string;
beforeEach(() => {
  savedEnv = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]));
  for (const name of ENV_NAMES) delete process.env[name];
  // A fresh, empty home: no ~/.ssh keys, no known_hosts.
  home = mkdtempSync(join(scratch, "home-"));
  process.env.HOME = home;
});
afterEach(() => {
  for (const name of ENV_NAMES) {
    if (savedEnv[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnv[name];
  }
});

async function failure(promise: Promise<unknown>): Promise<SandboxError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isSandboxError(error)) throw new Error(`expected a SandboxError, got ${String(error)}`);
  return error;
}

/** Authorises a public key (OpenSSH one-line form) on the test server. */
const authorise = (server: SshdServer, publicKey: string): void =>
  appendFileSync(join(server.dir, "authorized_keys"), `${publicKey.trim()}\n`);

/**
 * The OpenSSH public key of a PKCS#8 private key file, derived without the code under test:
 * OpenSSH's own `ssh-keygen -y` for RSA and ECDSA; for Ed25519, which OpenSSH 9.2 cannot read
 * from PKCS#8, the wire form built from node:crypto's raw public key.
 */
function publicKeyOfFile(path: string, passphrase = ""): string {
  const key = createPrivateKey({ key: readFileSync(path), passphrase });
  if (key.asymmetricKeyType !== "ed25519") {
    return execFileSync("ssh-keygen", ["-y", "-P", passphrase, "-f", path], { encoding: "utf8" });
  }
  const raw = Buffer.from(createPublicKey(key).export({ format: "jwk" }).x ?? "", "base64url");
  const field = (bytes: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]).toString("base64")}`;
}

describeWithSshd("SSH keys: where they are looked for and what they may be", () => {
  let server: SshdServer;
  beforeAll(async () => {
    server = await startSshd();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const target = () => ({
    host: server.host,
    port: server.port,
    username: server.username,
    hostKey: { sha256: server.hostKeyFingerprint },
  });

  it("with no key anywhere, lists every place looked at with its reason, and how to fix it", async () => {
    const error = await failure(connectSandbox(target()));
    expect(error.code).toBe("auth_failed");
    for (const line of [
      "the privateKey, privateKeyPath and agent options: not given",
      "$EXE_SSH_KEY: not set",
      `~/.ssh/id_ed25519 (${home}/.ssh/id_ed25519): not found`,
      `~/.ssh/id_ecdsa (${home}/.ssh/id_ecdsa): not found`,
      `~/.ssh/id_rsa (${home}/.ssh/id_rsa): not found`,
      "$SSH_AUTH_SOCK: not set",
    ]) {
      expect(error.message).toContain(`  - ${line}\n`);
    }
    expect(error.message).toContain("no usable key was found");
    expect(error.message).toContain("ssh-keygen -t ed25519");
    expect(error.message).toContain("EXE_SSH_KEY");
  });

  it("says which keys were offered and refused, and why others were skipped, never their contents", async () => {
    const stranger = generateKeyPairSync("ed25519", {
      privateKeyEncoding: { format: "pem", type: "pkcs8" },
      publicKeyEncoding: { format: "pem", type: "spki" },
    }).privateKey;
    mkdirSync(join(home, ".ssh"));
    writeFileSync(join(home, ".ssh", "id_ed25519"), stranger, { mode: 0o600 });
    writeFileSync(join(home, ".ssh", "id_rsa"), "not a key\n", { mode: 0o600 });
    process.env.SSH_AUTH_SOCK = join(home, "no-agent.sock");
    const error = await failure(connectSandbox(target()));
    expect(error.code).toBe("auth_failed");
    expect(error.message).toContain(
      `  - ~/.ssh/id_ed25519 (${home}/.ssh/id_ed25519): offered, the server refused it\n`,
    );
    expect(error.message).toContain(
      `  - ~/.ssh/id_rsa (${home}/.ssh/id_rsa): is not a private key ssh2 can read\n`,
    );
    expect(error.message).toContain(`  - $SSH_AUTH_SOCK (${join(home, "no-agent.sock")}): no such socket\n`);
    expect(error.message).toContain("no key was accepted");
    const body = stranger.split("\n").slice(1, -2).join("");
    for (let at = 0; at + 16 <= body.length; at += 8) {
      expect(error.message).not.toContain(body.slice(at, at + 16));
    }
    expect(JSON.stringify(error.details)).not.toContain(body.slice(0, 16));
  });

  it("expands ~ in privateKeyPath and in $EXE_SSH_KEY", async () => {
    mkdirSync(join(home, "keys"));
    writeFileSync(join(home, "keys", "vm-key"), server.privateKey, { mode: 0o600 });
    const viaOption = await connectSandbox({ ...target(), privateKeyPath: "~/keys/vm-key" });
    try {
      expect((await viaOption.exec("echo tilde")).stdout).toBe("tilde\n");
    } finally {
      await viaOption.close();
    }
    process.env.EXE_SSH_KEY = "~/keys/vm-key";
    const viaEnv = await connectSandbox(target());
    try {
      expect((await viaEnv.exec("echo tilde-env")).stdout).toBe("tilde-env\n");
    } finally {
      await viaEnv.close();
    }
  });

  it.each([
    ["ed25519", {}],
    ["rsa", { modulusLength: 2048 }],
    ["ec", { namedCurve: "P-256" }],
    ["ec", { namedCurve: "P-384" }],
    ["ec", { namedCurve: "P-521" }],
  ] as const)("logs in with a PKCS#8 %s key %o as node:crypto writes it", async (type, params) => {
    const { privateKey } = generateKeyPairSync(type as "ed25519", {
      ...params,
      privateKeyEncoding: { format: "pem", type: "pkcs8" },
      publicKeyEncoding: { format: "pem", type: "spki" },
    });
    expect(privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const path = join(home, `pkcs8-${type}-${Object.values(params).join("")}`);
    writeFileSync(path, privateKey, { mode: 0o600 });
    authorise(server, publicKeyOfFile(path));
    for (const options of [{ privateKey }, { privateKeyPath: path }]) {
      const sandbox = await connectSandbox({ ...target(), ...options });
      try {
        expect((await sandbox.exec("echo pkcs8")).stdout).toBe("pkcs8\n");
      } finally {
        await sandbox.close();
      }
    }
  });

  it("reads an encrypted PKCS#8 key with its passphrase, and says it needs one without", async () => {
    const { privateKey } = generateKeyPairSync("ed25519", {
      privateKeyEncoding: { format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: "s3cret" },
      publicKeyEncoding: { format: "pem", type: "spki" },
    });
    const path = join(home, "pkcs8-encrypted");
    writeFileSync(path, privateKey, { mode: 0o600 });
    authorise(server, publicKeyOfFile(path, "s3cret"));
    const sandbox = await connectSandbox({ ...target(), privateKeyPath: path, passphrase: "s3cret" });
    try {
      expect((await sandbox.exec("echo encrypted")).stdout).toBe("encrypted\n");
    } finally {
      await sandbox.close();
    }
    const missing = await failure(connectSandbox({ ...target(), privateKey }));
    expect(missing.code).toBe("invalid_argument");
    expect(missing.message).toContain("is encrypted; pass `passphrase`");
  });

  it("pins the host key from $EXE_SSH_HOST_KEY_SHA256 and writes nothing under ~/.ssh", async () => {
    process.env.EXE_SSH_HOST_KEY_SHA256 = server.hostKeyFingerprint;
    const { hostKey: _pinned, ...unpinned } = target();
    const sandbox = await connectSandbox({ ...unpinned, privateKey: server.privateKey });
    try {
      expect((await sandbox.exec("echo pinned")).stdout).toBe("pinned\n");
    } finally {
      await sandbox.close();
    }
    expect(existsSync(join(home, ".ssh"))).toBe(false);

    process.env.EXE_SSH_HOST_KEY_SHA256 = `SHA256:${"A".repeat(43)}`;
    const wrong = await failure(connectSandbox({ ...unpinned, privateKey: server.privateKey }));
    expect(wrong.code).toBe("host_key_mismatch");
    // An explicit option still wins over the environment.
    const explicit = await connectSandbox({ ...target(), privateKey: server.privateKey });
    await explicit.close();

    process.env.EXE_SSH_HOST_KEY_SHA256 = "not-a-fingerprint";
    const bad = await failure(connectSandbox({ ...unpinned, privateKey: server.privateKey }));
    expect(bad.code).toBe("invalid_argument");
    expect(bad.message).toContain("EXE_SSH_HOST_KEY_SHA256");
    expect(existsSync(join(home, ".ssh"))).toBe(false);
  });
});

describeWithSshd("a key exe.dev does not know", () => {
  let lobby: SshdServer;
  beforeAll(async () => {
    // exe.dev lets an unregistered key log in, to its lobby, which answers every command so.
    lobby = await startSshd({
      extraConfig: ["ForceCommand printf 'Please complete registration by running: ssh exe.dev\\n'; exit 1"],
    });
  });
  afterAll(async () => {
    await lobby?.stop();
  });

  it("is reported as unregistered, not as a server that is not the VM", async () => {
    const started = Date.now();
    const error = await failure(
      createExeDevSandbox({
        vm: {
          name: "some-vm",
          sshHost: lobby.host,
          sshPort: lobby.port,
          sshUser: lobby.username,
          tags: [],
          raw: {},
        },
        privateKey: lobby.privateKey,
        hostKey: { sha256: lobby.hostKeyFingerprint },
        connectRetryMs: 30_000,
      }),
    );
    expect(error.code).toBe("auth_failed");
    expect(error.message).toContain("exe.dev does not know this SSH key");
    expect(error.message).toContain("Please complete registration");
    expect(error.message).not.toContain("not as the VM");
    expect(error.retryable).toBe(false);
    // Not retried for connectRetryMs: registering takes a human.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
