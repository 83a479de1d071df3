import {
  defineSandboxContract,
  describeWithDropbear,
  isRoot,
  UNPRIVILEGED_TEST_USER,
  useDropbear,
} from "@exedev-sandbox/testing";
import { connectSandbox } from "../index.js";

// The whole sandbox contract against Dropbear (Debian dropbear-bin 2022.83), which differs from
// OpenSSH where it matters to core: the command's shell does not lead its own process group,
// SFTP is an external /usr/lib/sftp-server, there is no idle SFTP close to test, and concurrent
// execs race inside the server (see `reliableConcurrentExec`).
const logins = isRoot() ? [undefined, UNPRIVILEGED_TEST_USER] : [undefined];

for (const username of logins) {
  const who = username ?? "the current user";
  for (const transport of ["agent", "channels"] as const) {
    describeWithDropbear(`SshSandbox on Dropbear over ${transport}, logged in as ${who}`, () => {
      const dropbear = useDropbear({ username });
      let drop: (() => void) | undefined;
      defineSandboxContract(`dropbear over ${transport} (${who})`, {
        create: async () => {
          const server = await dropbear();
          drop = server.dropConnections;
          return connectSandbox({ ...server.connectOptions(), transport });
        },
        reference: async () =>
          connectSandbox({ ...(await dropbear()).connectOptions(), transport: "channels" }),
        faults: { dropConnections: () => drop?.() },
        // Debian's 2022.83 has the channel-close race fixed upstream in 2024.86 (mkj/dropbear#321);
        // through the agent every command shares one channel, so the race cannot happen.
        capabilities: { reliableConcurrentExec: transport === "agent" },
      });
    });
  }
}
