import {
  defineSandboxContract,
  describeWithSshd,
  isRoot,
  UNPRIVILEGED_TEST_USER,
  useSshd,
} from "@exedev-sandbox/testing";
import { expect } from "vitest";
import type { Transport } from "../agent/agent-transport.js";
import { connectSandbox } from "../index.js";

const SFTP_IDLE_CLOSE_MS = 2000;

// Root logins differ: sshd refuses `signal` requests without privilege separation, so killing
// is tested for an unprivileged login too. Both transports pass the same contract; the channel
// transport is also the reference the agent's command surroundings are compared with.
const logins: Array<{ who: string; username?: string }> = [{ who: "the current user" }];
if (isRoot()) logins.push({ who: UNPRIVILEGED_TEST_USER, username: UNPRIVILEGED_TEST_USER });

for (const { who, username } of logins) {
  for (const transport of ["agent", "channels"] satisfies Transport[]) {
    describeWithSshd(`SshSandbox on OpenSSH over ${transport}, logged in as ${who}`, () => {
      const sshd = useSshd({
        username,
        channelTimeout: `session:subsystem:sftp=${SFTP_IDLE_CLOSE_MS / 1000}s`,
      });
      let drop: (() => void) | undefined;
      defineSandboxContract(`ssh over ${transport} (${username ?? "current user"})`, {
        create: async () => {
          const server = await sshd();
          drop = server.dropConnections;
          const sandbox = await connectSandbox({ ...server.connectOptions(), transport });
          expect(sandbox.transport).toBe(transport);
          return sandbox;
        },
        reference: async () => connectSandbox({ ...(await sshd()).connectOptions(), transport: "channels" }),
        faults: { dropConnections: () => drop?.(), sftpIdleCloseMs: SFTP_IDLE_CLOSE_MS },
        // 200 concurrent processes once per transport, not on every server and login.
        heavyProcessCases: username === undefined,
      });
    });
  }
}
