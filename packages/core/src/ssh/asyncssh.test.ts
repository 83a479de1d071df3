import {
  describeWithAsyncssh,
  isRoot,
  startAsyncsshServer,
  type TestSshServer,
  UNPRIVILEGED_TEST_USER,
} from "@exedev-sandbox/testing";
import { Client, type ClientChannel } from "ssh2";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectSandbox } from "../index.js";
import type { Sandbox } from "../sandbox.js";

// The smallest proof that the test kit's asyncssh server is a usable server for core: connect,
// pinned to its host key, run a command through /bin/sh, read and write over asyncssh's SFTP.
const logins = isRoot() ? [undefined, UNPRIVILEGED_TEST_USER] : [undefined];

for (const username of logins) {
  describeWithAsyncssh(
    `SshSandbox on asyncssh (smoke), logged in as ${username ?? "the current user"}`,
    () => {
      let server: TestSshServer;
      let sandbox: Sandbox;
      beforeAll(async () => {
        server = await startAsyncsshServer({ username });
        sandbox = await connectSandbox(server.connectOptions());
      });
      afterAll(async () => {
        await sandbox?.close();
        await server?.stop();
      });

      it("runs a command as the login user, in its own process group, with its exit code", async () => {
        const result = await sandbox.exec('echo "$(id -un) $(ps -o pgid= -p $$ | tr -d " ") $$"; exit 3');
        expect(result.exitCode).toBe(3);
        const [user, pgid, pid] = result.stdout.trim().split(" ");
        expect(user).toBe(server.username);
        expect(pgid).toBe(pid); // setsid, as sshd does
      });

      it("serves SFTP", async () => {
        const path = `${sandbox.homeDir}/asyncssh-smoke-${process.pid}.txt`;
        await sandbox.writeFile(path, "over sftp");
        expect((await sandbox.exec(`cat '${path}'`)).stdout).toBe("over sftp");
        expect(await sandbox.readFile(path)).toBe("over sftp");
        await sandbox.rm(path);
      });

      it("refuses a key it was not given", async () => {
        const { generateSshKeyPair } = await import("../index.js");
        const stranger = generateSshKeyPair();
        await expect(
          connectSandbox({ ...server.connectOptions(), privateKey: stranger.privateKey }),
        ).rejects.toMatchObject({ code: "auth_failed" });
      });

      it("drops connections on demand: the call in flight fails as a connection loss, the next one works", async () => {
        const pending = sandbox.exec("sleep 30").then(
          () => "resolved",
          (error: { code?: string }) => error.code,
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
        const dropped = Date.now();
        server.dropConnections();
        expect(await pending).toBe("connection_failed");
        expect(Date.now() - dropped).toBeLessThan(5000);
        expect((await sandbox.exec("echo back")).stdout).toBe("back\n");
      });

      it("freezes connections on demand: nothing answers until the release drops them", async () => {
        let settled = false;
        const pending = sandbox.exec("sleep 1; echo late").then(
          () => "resolved",
          (error: { code?: string }) => error.code,
        );
        void pending.finally(() => {
          settled = true;
        });
        await new Promise((resolve) => setTimeout(resolve, 300));
        const release = server.freezeConnections();
        // The command would have finished after 1 s; frozen, its answer never comes.
        await new Promise((resolve) => setTimeout(resolve, 2500));
        expect(settled).toBe(false);
        release();
        expect(await pending).toBe("connection_failed");
        expect((await sandbox.exec("echo thawed")).stdout).toBe("thawed\n");
      });

      it("like sshd, a closed channel neither kills its command nor keeps its output flowing", async () => {
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
  );
}
