import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  connectSandbox,
  createExeDevApi,
  createExeDevSandbox,
  fingerprintOf,
  generateSshKeyPair,
  type NewVmOptions,
} from "@exedev-sandbox/core";
import { defineSandboxContract, expectSandboxError } from "@exedev-sandbox/testing";
import ssh2, { type Client, type ClientChannel } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { post, run, sleep } from "./test-helpers.js";

const SFTP_IDLE_CLOSE_MS = 2000;
const client = generateSshKeyPair("gateway-test");
const scratch = mkdtempSync(join(tmpdir(), "exedev-emulator-ssh-"));
const keyFile = join(scratch, "id_ed25519");
writeFileSync(keyFile, client.privateKey, { mode: 0o600 });
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ faults: { sftpIdleCloseMs: SFTP_IDLE_CLOSE_MS } });
  emulator.registerKey(client.publicKey, "gateway-test");
});
afterAll(async () => {
  await emulator?.stop();
});

const api = () => createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() });
const newVm = async (options: NewVmOptions = {}): Promise<string> => (await api().newVm(options)).name;
const hostKeyFingerprint = (): string => {
  const line = readFileSync(join(emulator.dataDir, "host_ed25519.pub"), "utf8");
  return fingerprintOf(Buffer.from(line.split(" ")[1] ?? "", "base64"));
};
const knownHosts = () => join(scratch, `known_hosts-${randomBytes(4).toString("hex")}`);
const sshOptions = (vm: string) => ({
  host: emulator.sshHost,
  port: emulator.sshPort,
  username: `vm+${vm}`,
  privateKey: client.privateKey,
  knownHostsPath: knownHosts(),
});

/** A raw ssh2 client, for what the sandbox API does not expose (signals, shells, channel limits). */
function rawClient(vm: string, privateKey: string = client.privateKey): Promise<Client> {
  return new Promise((resolve, reject) => {
    const connection = new ssh2.Client();
    connection.once("ready", () => resolve(connection));
    connection.once("error", reject);
    connection.connect({ host: emulator.sshHost, port: emulator.sshPort, username: `vm+${vm}`, privateKey });
  });
}

interface Outcome {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: string | undefined;
}

function collect(channel: ClientChannel): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { stdout: "", stderr: "", code: null, signal: undefined };
    channel.on("data", (chunk: Buffer) => {
      outcome.stdout += chunk.toString();
    });
    channel.stderr.on("data", (chunk: Buffer) => {
      outcome.stderr += chunk.toString();
    });
    channel.on("exit", (code: number | null, signal?: string) => {
      outcome.code = code;
      outcome.signal = signal;
    });
    channel.on("close", () => resolve(outcome));
  });
}

function exec(connection: Client, command: string, options: ssh2.ExecOptions = {}): Promise<ClientChannel> {
  return new Promise((resolve, reject) =>
    connection.exec(command, options, (error, channel) => (error ? reject(error) : resolve(channel))),
  );
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitFor(check: () => boolean, ms = 3000): Promise<boolean> {
  for (const started = Date.now(); Date.now() - started < ms; await sleep(50)) if (check()) return true;
  return check();
}

describe("SSH gateway", () => {
  // The emulator's VMs run the in-VM agent (the host has perl), as exe.dev's do; the channel
  // transport passes the same contract and is the reference for the agent's surroundings.
  for (const transport of ["agent", "channels"] as const) {
    let vm: string | undefined;
    // The host key is pinned by the fingerprint the emulator reports.
    const open = (name: string, over: "agent" | "channels") =>
      connectSandbox({
        ...sshOptions(name),
        hostKey: { sha256: emulator.hostKeyFingerprint },
        transport: over,
      });
    defineSandboxContract(`emulator SSH gateway over ${transport}`, {
      create: async () => {
        vm = await newVm();
        const sandbox = await open(vm, transport);
        expect(sandbox.transport).toBe(transport);
        return sandbox;
      },
      reference: async () => open(vm as string, "channels"),
      faults: {
        dropConnections: () => emulator.faults.dropConnections(),
        sftpIdleCloseMs: SFTP_IDLE_CLOSE_MS,
      },
    });
  }

  it("uses the agent by default", async () => {
    const sandbox = await connectSandbox({
      ...sshOptions(await newVm()),
      hostKey: { sha256: emulator.hostKeyFingerprint },
    });
    try {
      expect(sandbox.transport).toBe("agent");
    } finally {
      await sandbox.close();
    }
  });

  describe("OpenSSH clients", () => {
    const common = () => [
      "-i",
      keyFile,
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
    ];

    it("reports the host key fingerprint that ssh-keygen computes from the key in dataDir", async () => {
      const listed = await run("ssh-keygen", ["-lf", join(emulator.dataDir, "host_ed25519.pub")]);
      expect(listed.stdout.split(" ")[1]).toBe(emulator.hostKeyFingerprint);
      expect(emulator.hostKeyFingerprint).toBe(hostKeyFingerprint());
    });

    it("ssh runs commands with exit codes, separate stderr, stdin and SetEnv", async () => {
      const vm = await newVm();
      const target = `vm+${vm}@${emulator.sshHost}`;
      const ssh = (args: string[], input?: string) =>
        run("ssh", ["-p", String(emulator.sshPort), ...common(), ...args], { input });
      expect(await ssh([target, "echo hi"])).toMatchObject({ stdout: "hi\n", code: 0 });
      const home = await ssh([target, 'echo "$HOME"; pwd; echo err >&2; exit 7']);
      expect(home).toMatchObject({ stdout: `${join(emulator.dataDir, "vms", vm)}\n`.repeat(2), code: 7 });
      expect(home.stderr).toContain("err\n");
      expect(await ssh([target, "tr a-z A-Z"], "piped in\n")).toMatchObject({
        stdout: "PIPED IN\n",
        code: 0,
      });
      expect(await ssh(["-o", "SetEnv=GREETING=hello", target, 'echo "$GREETING"'])).toMatchObject({
        stdout: "hello\n",
      });
      expect((await ssh([target, "kill -TERM $$"])).code).toBe(255); // OpenSSH's "killed by signal"
    });

    it("sftp and scp put and get files byte-exact; sftp renames, links and lists", async () => {
      const vm = await newVm();
      const local = join(scratch, `up-${vm}.bin`);
      const bytes = randomBytes(700_000);
      writeFileSync(local, bytes);
      const batch = join(scratch, `batch-${vm}`);
      writeFileSync(
        batch,
        [
          "mkdir dir",
          `put ${local} dir/up.bin`,
          `get dir/up.bin ${local}.back`,
          "rename dir/up.bin dir/moved.bin",
          "ln -s moved.bin dir/link.bin",
          "ls -l dir",
          "chmod 600 dir/moved.bin",
          "-rm dir/missing",
          "pwd",
        ].join("\n"),
      );
      const result = await run("sftp", [
        "-P",
        String(emulator.sshPort),
        ...common(),
        "-b",
        batch,
        `vm+${vm}@${emulator.sshHost}`,
      ]);
      expect(result.code, result.stderr).toBe(0);
      expect(readFileSync(`${local}.back`).equals(bytes)).toBe(true);
      const workspace = join(emulator.dataDir, "vms", vm);
      expect(readFileSync(join(workspace, "dir", "link.bin")).equals(bytes)).toBe(true);
      expect(result.stdout).toMatch(/-rw-r--r-- .* 700000 .* moved\.bin/);
      expect(result.stdout).toMatch(/lrwxrwxrwx .* link\.bin/);
      expect(result.stdout).toContain(`Remote working directory: ${workspace}`);
      const scp = (...args: string[]) => run("scp", ["-P", String(emulator.sshPort), ...common(), ...args]);
      const up = await scp(local, `vm+${vm}@${emulator.sshHost}:scp-copy.bin`);
      expect(up.code, up.stderr).toBe(0);
      expect((await scp(`vm+${vm}@${emulator.sshHost}:scp-copy.bin`, `${local}.scp`)).code).toBe(0);
      expect(readFileSync(`${local}.scp`).equals(bytes)).toBe(true);
    });
  });

  describe("logins", () => {
    it("refuses unregistered keys, unknown VMs and other usernames, and keeps serving", async () => {
      const vm = await newVm();
      await expectSandboxError(
        connectSandbox({ ...sshOptions(vm), privateKey: generateSshKeyPair().privateKey }),
        "auth_failed",
      );
      await expectSandboxError(connectSandbox(sshOptions("no-such-vm-here")), "auth_failed");
      await expectSandboxError(connectSandbox({ ...sshOptions(vm), username: vm }), "auth_failed");
      await expectSandboxError(connectSandbox({ ...sshOptions(vm), username: "root" }), "auth_failed");
      const password = await run("ssh", [
        "-p",
        String(emulator.sshPort),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "PubkeyAuthentication=no",
        `vm+${vm}@${emulator.sshHost}`,
        "true",
      ]);
      expect(password.code).toBe(255);
      const sandbox = await connectSandbox(sshOptions(vm));
      expect((await sandbox.exec("echo still")).stdout).toBe("still\n");
      await sandbox.close();
    });

    it("accepts every signature algorithm OpenSSH's sshd does: rsa-sha2-512 or -256 alone, ssh-ed25519, ECDSA", async () => {
      const vm = await newVm();
      const cases: Array<[string, string[], string]> = [
        ["rsa", ["-b", "3072"], "rsa-sha2-512"],
        ["rsa", ["-b", "3072"], "rsa-sha2-256"],
        ["ed25519", [], "ssh-ed25519"],
        ["ecdsa", ["-b", "256"], "ecdsa-sha2-nistp256"],
        ["ecdsa", ["-b", "384"], "ecdsa-sha2-nistp384"],
        ["ecdsa", ["-b", "521"], "ecdsa-sha2-nistp521"],
      ];
      for (const [type, bits, algorithm] of cases) {
        const file = join(scratch, `id-${algorithm}`);
        rmSync(file, { force: true });
        rmSync(`${file}.pub`, { force: true });
        expect((await run("ssh-keygen", ["-q", "-t", type, ...bits, "-N", "", "-f", file])).code).toBe(0);
        emulator.registerKey(readFileSync(`${file}.pub`, "utf8"));
        // Only this algorithm may sign: the client uses it only if the server lists it in
        // server-sig-algs, and the server must verify it.
        const login = await run("ssh", [
          "-p",
          String(emulator.sshPort),
          "-i",
          file,
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          `PubkeyAcceptedAlgorithms=${algorithm}`,
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "BatchMode=yes",
          `vm+${vm}@${emulator.sshHost}`,
          "echo signed",
        ]);
        expect({ algorithm, stdout: login.stdout, code: login.code }).toEqual({
          algorithm,
          stdout: "signed\n",
          code: 0,
        });
      }
    });

    it("survives garbage on the SSH port", async () => {
      const inputs = [
        Buffer.from("GET / HTTP/1.1\r\n\r\n"),
        Buffer.concat([Buffer.from("SSH-2.0-garbage\r\n"), randomBytes(5000)]),
        Buffer.from("SSH-2.0-x\r\n\u0000\u0000\u0000\u0005\u0000\u0000\u0000\u0000\u0000"),
        randomBytes(70_000),
      ];
      for (const bytes of inputs) {
        await new Promise<void>((resolve) => {
          const socket = netConnect(emulator.sshPort, emulator.sshHost, () => socket.write(bytes));
          socket.setTimeout(1000, () => socket.destroy());
          socket.on("error", () => resolve());
          socket.on("close", () => resolve());
          socket.resume();
        });
      }
      const sandbox = await connectSandbox(sshOptions(await newVm()));
      expect((await sandbox.exec("echo fine")).stdout).toBe("fine\n");
      await sandbox.close();
    });

    it("keeps the host key in dataDir, so it stays the same across restarts", async () => {
      const dataDir = join(scratch, "host-key");
      const first = await startEmulator({ dataDir });
      first.registerKey(client.publicKey);
      const firstApi = createExeDevApi({ baseUrl: first.apiUrl, token: first.createToken() });
      const vm = (await firstApi.newVm()).name;
      const hosts = knownHosts();
      const options = (port: number) => ({ ...sshOptions(vm), port, knownHostsPath: hosts });
      await (await connectSandbox(options(first.sshPort))).close();
      await first.stop();
      const second = await startEmulator({ dataDir, sshPort: first.sshPort });
      try {
        const again = await connectSandbox({ ...options(second.sshPort), hostKey: "strict" });
        expect((await again.exec("echo same")).stdout).toBe("same\n");
        await again.close();
      } finally {
        await second.stop();
      }
    });
  });

  describe("sessions", () => {
    it("reports a signal death as an exit signal", async () => {
      const connection = await rawClient(await newVm());
      try {
        const outcome = await collect(await exec(connection, "echo before; kill -TERM $$"));
        expect(outcome).toMatchObject({ stdout: "before\n", code: null, signal: "SIGTERM" });
      } finally {
        connection.end();
      }
    });

    it("forwards signal requests to the command's process group", async () => {
      const connection = await rawClient(await newVm());
      try {
        const channel = await exec(
          connection,
          "trap 'echo got-term; exit 3' TERM; echo ready; sleep 30 & wait",
        );
        const outcome = collect(channel);
        await new Promise<void>((resolve) => channel.once("data", () => resolve()));
        channel.signal("TERM");
        expect(await outcome).toMatchObject({ stdout: "ready\ngot-term\n", code: 3 });
      } finally {
        connection.end();
      }
    });

    it("passes env requests and the VM's --env to commands, with a clean environment", async () => {
      const vm = await newVm({ env: { FROM_NEW: "new value" } });
      const connection = await rawClient(vm);
      try {
        const outcome = await collect(
          // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
          await exec(connection, 'echo "$FROM_NEW|$FROM_REQUEST|$HOME|$SHELL|${VITEST:-clean}"', {
            env: { FROM_REQUEST: "request value" },
          }),
        );
        expect(outcome.stdout).toBe(
          `new value|request value|${join(emulator.dataDir, "vms", vm)}|${"/bin/bash"}|clean\n`,
        );
      } finally {
        connection.end();
      }
    });

    it("runs a shell without a terminal from stdin", async () => {
      const connection = await rawClient(await newVm());
      try {
        const shell = await new Promise<ClientChannel>((resolve, reject) =>
          connection.shell(false, (error, channel) => (error ? reject(error) : resolve(channel))),
        );
        const outcome = collect(shell);
        shell.end("echo from-shell\nexit 5\n");
        expect(await outcome).toMatchObject({ stdout: "from-shell\n", code: 5 });
        // Terminals (pty requests) are tested in pty.test.ts.
        expect(await collect(await exec(connection, "tty"))).toMatchObject({
          stdout: "not a tty\n",
          code: 1,
        });
      } finally {
        connection.end();
      }
    });

    it("lets a command outlive its closed channel until it writes again (SIGPIPE), and confirms the close only once it has exited, as sshd does", async () => {
      const vm = await newVm();
      const connection = await rawClient(vm);
      try {
        const channel = await exec(connection, "echo $$ > quiet.pid; sleep 30");
        let confirmed = false;
        const closed = collect(channel).then((outcome) => {
          confirmed = true;
          return outcome;
        });
        await waitFor(() => existsSync(join(emulator.dataDir, "vms", vm, "quiet.pid")));
        await sleep(100);
        channel.close();
        // sshd answers the CLOSE only after the command is gone; a confirmed close here would
        // let a caller believe a command was stopped that still runs.
        await sleep(1000);
        expect(confirmed).toBe(false);
        const pid = Number(readFileSync(join(emulator.dataDir, "vms", vm, "quiet.pid"), "utf8"));
        expect(isAlive(pid)).toBe(true);
        const killedAt = Date.now();
        process.kill(-pid, "SIGKILL");
        // Then the exit status still comes, before the CLOSE.
        expect(await closed).toMatchObject({ code: null, signal: "SIGKILL" });
        expect(Date.now() - killedAt).toBeLessThan(3000);

        const writer = await exec(
          connection,
          "echo $$ > loud.pid; while true; do echo tick; sleep 0.1; done",
        );
        const writerClosed = collect(writer);
        await new Promise<void>((resolve) => writer.once("data", () => resolve()));
        writer.close();
        expect((await writerClosed).signal).toBe("SIGPIPE");
        const writerPid = Number(readFileSync(join(emulator.dataDir, "vms", vm, "loud.pid"), "utf8"));
        expect(await waitFor(() => !isAlive(writerPid))).toBe(true);
      } finally {
        connection.end();
      }
    });
  });

  describe("faults", () => {
    it("allows OpenSSH's MaxSessions (10) by default, refuses the next like sshd, and counts a closed session until its command exits", async () => {
      const vm = await newVm();
      const connection = await rawClient(vm);
      try {
        const channels = await Promise.all(
          Array.from({ length: 10 }, (_, index) => exec(connection, `echo $$ > s${index}.pid; sleep 30`)),
        );
        const refused = await exec(connection, "true").catch((error: Error & { reason?: number }) => error);
        // What sshd sends past MaxSessions: SSH_OPEN_CONNECT_FAILED, "open failed".
        expect(refused).toMatchObject({ reason: 2, message: "(SSH) Channel open failure: open failed" });
        const [first] = channels;
        const firstClosed = collect(first as ClientChannel);
        first?.close();
        await sleep(300);
        // Closed by the client, but its command still runs: the slot is still taken.
        expect(await exec(connection, "true").catch((error: { reason?: number }) => error)).toMatchObject({
          reason: 2,
        });
        // A signal request cannot reach a closed channel; kill it the way core's kill does.
        const pidFile = join(emulator.dataDir, "vms", vm, "s0.pid");
        await waitFor(() => existsSync(pidFile));
        const killedAt = Date.now();
        process.kill(-Number(readFileSync(pidFile, "utf8")), "SIGKILL");
        await firstClosed;
        expect(Date.now() - killedAt).toBeLessThan(3000);
        expect((await collect(await exec(connection, "echo freed"))).stdout).toBe("freed\n");
        for (const channel of channels.slice(1)) {
          channel.signal("KILL");
          channel.close();
        }
      } finally {
        connection.end();
      }
    });

    it("frees an idle-closed SFTP session's slot at once, as sshd's ChannelTimeout does", async () => {
      const connection = await rawClient(await newVm());
      emulator.faults.setMaxSessionsPerConnection(2);
      try {
        const sftp = await new Promise<ssh2.SFTPWrapper>((resolve, reject) =>
          connection.sftp((error, session) => (error ? reject(error) : resolve(session))),
        );
        // ssh2's client never answers the server's CLOSE of an SFTP channel; sshd frees the
        // session of a timed-out channel anyway.
        await new Promise((resolve) => sftp.once("close", resolve));
        const first = await exec(connection, "sleep 30");
        expect((await collect(await exec(connection, "echo second"))).stdout).toBe("second\n");
        first.signal("KILL");
        first.close();
      } finally {
        emulator.faults.setMaxSessionsPerConnection(undefined);
        connection.end();
      }
    });

    it("caps sessions per connection like MaxSessions, counting SFTP, and restores the default", async () => {
      const connection = await rawClient(await newVm());
      emulator.faults.setMaxSessionsPerConnection(2);
      try {
        const first = await exec(connection, "sleep 30");
        const sftp = await new Promise<ssh2.SFTPWrapper>((resolve, reject) =>
          connection.sftp((error, session) => (error ? reject(error) : resolve(session))),
        );
        const refused = await exec(connection, "true").catch((error: { reason?: number }) => error);
        expect(typeof (refused as { reason?: number }).reason).toBe("number");
        sftp.end();
        await new Promise((resolve) => sftp.once("close", resolve));
        await sleep(50);
        expect((await collect(await exec(connection, "echo third"))).stdout).toBe("third\n");
        first.signal("KILL");
        first.close();
      } finally {
        emulator.faults.setMaxSessionsPerConnection(undefined);
        connection.end();
      }
    });

    it("drops every connection at once, and keeps accepting new ones", async () => {
      const vm = await newVm();
      const connection = await rawClient(vm);
      const closed = new Promise<void>((resolve) => connection.once("close", () => resolve()));
      connection.on("error", () => {});
      emulator.faults.dropConnections();
      await closed;
      const again = await rawClient(vm);
      expect((await collect(await exec(again, "echo back"))).stdout).toBe("back\n");
      again.end();
    });

    it("closes idle SFTP sessions after the configured time, and not busy ones", async () => {
      const connection = await rawClient(await newVm());
      // The idle time is well above the gaps between requests: on a loaded machine a gap can
      // stretch by a few hundred ms, and a request that arrives after the idle close is lost.
      emulator.faults.setSftpIdleCloseMs(1000);
      try {
        const sftp = await new Promise<ssh2.SFTPWrapper>((resolve, reject) =>
          connection.sftp((error, session) => (error ? reject(error) : resolve(session))),
        );
        const started = Date.now();
        const closed = new Promise<number>((resolve) =>
          sftp.once("close", () => resolve(Date.now() - started)),
        );
        for (let i = 0; i < 6; i++) {
          await new Promise<void>((resolve, reject) =>
            sftp.stat(".", (error) => (error ? reject(error) : resolve())),
          );
          await sleep(150);
        }
        const after = await closed;
        expect(after).toBeGreaterThanOrEqual(900 + 1000);
        expect(after).toBeLessThan(900 + 1000 + 1500);
      } finally {
        emulator.faults.setSftpIdleCloseMs(SFTP_IDLE_CLOSE_MS);
        connection.end();
      }
    });
  });

  describe("VM lifecycle", () => {
    it("restart kills the VM's processes, also those that left the process group, and drops its connections", async () => {
      const vm = await newVm();
      const workspace = join(emulator.dataDir, "vms", vm);
      const sandbox = await connectSandbox(sshOptions(vm));
      const running = sandbox.exec(
        "sleep 300 & echo $! > child.pid; setsid sleep 301 & echo $! > daemon.pid; wait",
      );
      running.catch(() => {});
      expect(
        await waitFor(
          () => existsSync(join(workspace, "daemon.pid")) && existsSync(join(workspace, "child.pid")),
        ),
      ).toBe(true);
      await sleep(100);
      const pids = ["child.pid", "daemon.pid"].map((file) =>
        Number(readFileSync(join(workspace, file), "utf8")),
      );
      expect(pids.every(isAlive)).toBe(true);
      const other = await newVm();
      const bystander = await connectSandbox(sshOptions(other));
      const unrelated = bystander.exec("sleep 2; echo unharmed");
      const raw = await rawClient(vm);
      raw.on("error", () => {});
      const rawClosed = new Promise<void>((resolve) => raw.once("close", () => resolve()));
      await api().restartVm(vm);
      await rawClosed;
      expect(await waitFor(() => !pids.some(isAlive))).toBe(true);
      await running.then(
        (result) => expect(result.exitCode).not.toBe(0),
        () => {},
      );
      expect((await unrelated).stdout).toBe("unharmed\n");
      expect((await sandbox.exec("echo reconnected")).stdout).toBe("reconnected\n");
      await sandbox.close();
      await bystander.close();
    });

    it("rm kills the VM's processes, deletes its workspace and cuts its connections for good", async () => {
      const vm = await newVm();
      const workspace = join(emulator.dataDir, "vms", vm);
      const sandbox = await connectSandbox({ ...sshOptions(vm), connectRetryMs: 0 });
      const running = sandbox.exec("echo $$ > shell.pid; sleep 300");
      running.catch(() => {});
      await waitFor(() => existsSync(join(workspace, "shell.pid")));
      await sleep(100);
      const pid = Number(readFileSync(join(workspace, "shell.pid"), "utf8"));
      const answer = await post(emulator, `rm ${vm}`, { token: emulator.createToken() });
      expect(answer.lines.at(-1)).toEqual({ deleted: [vm], failed: [] });
      expect(await waitFor(() => !isAlive(pid))).toBe(true);
      expect(existsSync(workspace)).toBe(false);
      await expect(sandbox.exec("true")).rejects.toMatchObject({
        code: expect.stringMatching(/sandbox_died|auth_failed/),
      });
      await sandbox.close();
    });

    it("works end to end through createExeDevSandbox: create, clone, dispose", async () => {
      const exeApi = api();
      const before = (await exeApi.listVms()).length;
      const sandbox = await createExeDevSandbox({
        create: { tags: ["demo"] },
        api: exeApi,
        privateKey: client.privateKey,
        knownHostsPath: knownHosts(),
      });
      expect(sandbox.vm.sshUser).toBe(`vm+${sandbox.vm.name}`);
      await sandbox.writeFile(`${sandbox.homeDir}/state.txt`, "carried over");
      const clone = await createExeDevSandbox({
        cloneFrom: sandbox.vm.name,
        api: exeApi,
        privateKey: client.privateKey,
        knownHostsPath: knownHosts(),
      });
      expect(await clone.readFile(`${clone.homeDir}/state.txt`)).toBe("carried over");
      expect(clone.homeDir).not.toBe(sandbox.homeDir);
      await clone.dispose();
      await sandbox.dispose();
      expect((await exeApi.listVms()).length).toBe(before);
      expect(existsSync(sandbox.homeDir)).toBe(false);
    });
  });
});
