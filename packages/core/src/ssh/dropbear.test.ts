import {
  type DropbearServer,
  describeWithDropbear,
  isRoot,
  startDropbear,
  UNPRIVILEGED_TEST_USER,
} from "@exedev-sandbox/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectSandbox } from "../index.js";
import type { Sandbox } from "../sandbox.js";

// The smallest proof that the test kit's Dropbear is a usable server for core: connect, pinned
// to its host key, run a command through the login shell, read a file over its SFTP server.
const logins = isRoot() ? [undefined, UNPRIVILEGED_TEST_USER] : [undefined];

for (const username of logins) {
  describeWithDropbear(
    `SshSandbox on Dropbear (smoke), logged in as ${username ?? "the current user"}`,
    () => {
      let server: DropbearServer;
      let sandbox: Sandbox;
      beforeAll(async () => {
        server = await startDropbear({ username });
        sandbox = await connectSandbox(server.connectOptions());
      });
      afterAll(async () => {
        await sandbox?.close();
        await server?.stop();
      });

      it("runs a command as the login user and reports its exit code", async () => {
        const result = await sandbox.exec('echo "$USER:$SSH_CONNECTION"; exit 3');
        expect(result.exitCode).toBe(3);
        expect(result.stdout).toBe(
          `${server.username}:127.0.0.1 ${result.stdout.split(" ")[1]} 127.0.0.1 ${server.port}\n`,
        );
      });

      it("serves SFTP through its external sftp-server", async () => {
        const path = `${sandbox.homeDir}/dropbear-smoke-${process.pid}.txt`;
        await sandbox.writeFile(path, "over sftp");
        expect((await sandbox.exec(`cat '${path}'`)).stdout).toBe("over sftp");
        expect(await sandbox.readFile(path)).toBe("over sftp");
        await sandbox.rm(path);
      });

      it("logs in only with the generated key, and never saw root's real ~/.ssh", async () => {
        expect(server.logs()).toMatch(/Pubkey auth succeeded for '[^']+' with (ssh-)?ed25519 key/);
        const listed = await sandbox.exec("cat ~/.ssh/authorized_keys");
        expect(listed.stdout.trim()).toBe(server.publicKey.trim());
      });
    },
  );
}
