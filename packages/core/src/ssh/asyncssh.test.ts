import {
  describeWithAsyncssh,
  isRoot,
  type SshdServer,
  startAsyncsshServer,
  UNPRIVILEGED_TEST_USER,
} from "@exedev-sandbox/testing";
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
      let server: SshdServer;
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
    },
  );
}
