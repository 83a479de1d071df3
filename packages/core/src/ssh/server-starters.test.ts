import {
  describeWithAsyncssh,
  describeWithDropbear,
  isRoot,
  startAsyncsshServer,
  startDropbear,
  type TestSshServer,
  UNPRIVILEGED_TEST_USER,
} from "@exedev-sandbox/testing";
import { Client, type ClientChannel } from "ssh2";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectSandbox } from "../index.js";
import type { Sandbox } from "../sandbox.js";

// The smallest proof that each of the test kit's non-OpenSSH servers is a usable server for
// core: connect, pinned to its host key, run a command, read and write over its SFTP, and the
// fault hooks the fault tests rely on.

/** What a server's own tests see: set by the suite's beforeAll. */
interface Connected {
  server: TestSshServer;
  sandbox: Sandbox;
}

interface Starter {
  name: string;
  describe: (name: string, body: () => void) => void;
  start: (options: { username?: string }) => Promise<TestSshServer>;
  /** Its SFTP test's name: how that server serves SFTP differs. */
  sftpTestName: string;
  /** Tests of what only this server does (or how it does it). */
  ownTests: (at: Connected) => void;
}

const starters: Starter[] = [
  {
    name: "asyncssh",
    describe: describeWithAsyncssh,
    start: startAsyncsshServer,
    sftpTestName: "serves SFTP",
    ownTests: (at) => {
      it("runs a command as the login user, in its own process group, with its exit code", async () => {
        const result = await at.sandbox.exec('echo "$(id -un) $(ps -o pgid= -p $$ | tr -d " ") $$"; exit 3');
        expect(result.exitCode).toBe(3);
        const [user, pgid, pid] = result.stdout.trim().split(" ");
        expect(user).toBe(at.server.username);
        expect(pgid).toBe(pid); // setsid, as sshd does
      });

      it("refuses a key it was not given", async () => {
        const { generateSshKeyPair } = await import("../index.js");
        const stranger = generateSshKeyPair();
        await expect(
          connectSandbox({ ...at.server.connectOptions(), privateKey: stranger.privateKey }),
        ).rejects.toMatchObject({ code: "auth_failed" });
      });

      it("like sshd, a closed channel neither kills its command nor keeps its output flowing", async () => {
        const { server, sandbox } = at;
        const tag = `${process.pid}${Date.now() % 100_000}`;
        const client = new Client();
        await new Promise<void>((resolve, reject) => {
          client.once("ready", resolve).once("error", reject);
          client.connect({
            host: server.host,
            port: server.port,
            username: server.username,
            privateKey: server.privateKey,
          });
        });
        const open = (command: string): Promise<ClientChannel> =>
          new Promise((resolve, reject) => {
            client.exec(command, (error, channel) => (error ? reject(error) : resolve(channel)));
          });
        try {
          const quiet = await open(`exec sleep ${tag}.25`);
          const chatty = await open(`sleep 0.5; exec yes ${tag}.5`);
          for (const channel of [quiet, chatty]) {
            channel.resume();
            channel.stderr.resume();
            channel.close();
          }
          await new Promise((resolve) => setTimeout(resolve, 2500));
          const left = await sandbox.exec(`ps -eo args | grep -E '^(sleep|yes) ${tag}' || true`);
          expect(left.stdout).toBe(`sleep ${tag}.25\n`); // `yes` died of SIGPIPE
        } finally {
          await sandbox.exec(`pkill -f '^sleep ${tag}' || true`);
          client.end();
        }
      });
    },
  },
  {
    name: "Dropbear",
    describe: describeWithDropbear,
    start: startDropbear,
    sftpTestName: "serves SFTP through its external sftp-server",
    ownTests: (at) => {
      it("runs a command as the login user and reports its exit code", async () => {
        const result = await at.sandbox.exec('echo "$USER:$SSH_CONNECTION"; exit 3');
        expect(result.exitCode).toBe(3);
        expect(result.stdout).toBe(
          `${at.server.username}:127.0.0.1 ${result.stdout.split(" ")[1]} 127.0.0.1 ${at.server.port}\n`,
        );
      });

      it("logs in only with the generated key, and never saw root's real ~/.ssh", async () => {
        expect(at.server.logs()).toMatch(/Pubkey auth succeeded for '[^']+' with (ssh-)?ed25519 key/);
        const listed = await at.sandbox.exec("cat ~/.ssh/authorized_keys");
        expect(listed.stdout.trim()).toBe(at.server.publicKey.trim());
      });
    },
  },
];

const logins = isRoot() ? [undefined, UNPRIVILEGED_TEST_USER] : [undefined];

for (const starter of starters) {
  for (const username of logins) {
    starter.describe(
      `SshSandbox on ${starter.name} (smoke), logged in as ${username ?? "the current user"}`,
      () => {
        const at = {} as Connected;
        beforeAll(async () => {
          at.server = await starter.start({ username });
          at.sandbox = await connectSandbox(at.server.connectOptions());
        });
        afterAll(async () => {
          await at.sandbox?.close();
          await at.server?.stop();
        });

        starter.ownTests(at);

        it(starter.sftpTestName, async () => {
          const path = `${at.sandbox.homeDir}/${starter.name.toLowerCase()}-smoke-${process.pid}.txt`;
          await at.sandbox.writeFile(path, "over sftp");
          expect((await at.sandbox.exec(`cat '${path}'`)).stdout).toBe("over sftp");
          expect(await at.sandbox.readFile(path)).toBe("over sftp");
          await at.sandbox.rm(path);
        });

        it("drops connections on demand: the call in flight fails as a connection loss, the next one works", async () => {
          const pending = at.sandbox.exec("sleep 30").then(
            () => "resolved",
            (error: { code?: string }) => error.code,
          );
          await new Promise((resolve) => setTimeout(resolve, 500));
          const dropped = Date.now();
          at.server.dropConnections();
          expect(await pending).toBe("connection_failed");
          expect(Date.now() - dropped).toBeLessThan(5000);
          expect((await at.sandbox.exec("echo back")).stdout).toBe("back\n");
        });

        it("freezes connections on demand: nothing answers until the release drops them", async () => {
          let settled = false;
          const pending = at.sandbox.exec("sleep 1; echo late").then(
            () => "resolved",
            (error: { code?: string }) => error.code,
          );
          void pending.finally(() => {
            settled = true;
          });
          await new Promise((resolve) => setTimeout(resolve, 300));
          const release = at.server.freezeConnections();
          // The command would have finished after 1 s; frozen, its answer never comes.
          await new Promise((resolve) => setTimeout(resolve, 2500));
          expect(settled).toBe(false);
          release();
          expect(await pending).toBe("connection_failed");
          expect((await at.sandbox.exec("echo thawed")).stdout).toBe("thawed\n");
        });
      },
    );
  }
}
