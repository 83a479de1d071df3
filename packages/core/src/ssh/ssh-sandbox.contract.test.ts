import {
  defineSandboxContract,
  describeWithSshd,
  isRoot,
  UNPRIVILEGED_TEST_USER,
  useSshd,
} from "@exedev-sandbox/testing";
import { connectSandbox } from "../index.js";

const SFTP_IDLE_CLOSE_MS = 2000;

describeWithSshd("SshSandbox on OpenSSH, logged in as the current user", () => {
  const sshd = useSshd({ channelTimeout: `session:subsystem:sftp=${SFTP_IDLE_CLOSE_MS / 1000}s` });
  let drop: (() => void) | undefined;
  defineSandboxContract("ssh (current user)", {
    create: async () => {
      const server = await sshd();
      drop = server.dropConnections;
      return connectSandbox(server.connectOptions());
    },
    faults: { dropConnections: () => drop?.(), sftpIdleCloseMs: SFTP_IDLE_CLOSE_MS },
  });
});

// Root logins differ: sshd refuses `signal` requests without privilege separation, so killing
// is tested for an unprivileged login too.
if (isRoot()) {
  describeWithSshd(`SshSandbox on OpenSSH, logged in as ${UNPRIVILEGED_TEST_USER}`, () => {
    const sshd = useSshd({
      username: UNPRIVILEGED_TEST_USER,
      channelTimeout: `session:subsystem:sftp=${SFTP_IDLE_CLOSE_MS / 1000}s`,
    });
    let drop: (() => void) | undefined;
    defineSandboxContract("ssh (unprivileged user)", {
      create: async () => {
        const server = await sshd();
        drop = server.dropConnections;
        return connectSandbox(server.connectOptions());
      },
      faults: { dropConnections: () => drop?.(), sftpIdleCloseMs: SFTP_IDLE_CLOSE_MS },
    });
  });
}
