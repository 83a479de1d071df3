import {
  defineSandboxContract,
  describeWithAsyncssh,
  isRoot,
  UNPRIVILEGED_TEST_USER,
  useAsyncsshServer,
} from "@exedev-sandbox/testing";
import { connectSandbox } from "../index.js";

// The whole sandbox contract against an SSH server that is neither OpenSSH nor Dropbear: the
// test kit's asyncssh server (servers/asyncssh_server.py), whose SFTP server is asyncssh's own.
const logins = isRoot() ? [undefined, UNPRIVILEGED_TEST_USER] : [undefined];

for (const username of logins) {
  const who = username ?? "the current user";
  for (const transport of ["agent", "channels"] as const) {
    describeWithAsyncssh(`SshSandbox on asyncssh over ${transport}, logged in as ${who}`, () => {
      const asyncssh = useAsyncsshServer({ username });
      let drop: (() => void) | undefined;
      defineSandboxContract(`asyncssh over ${transport} (${who})`, {
        create: async () => {
          const server = await asyncssh();
          drop = server.dropConnections;
          return connectSandbox({ ...server.connectOptions(), transport });
        },
        reference: async () =>
          connectSandbox({ ...(await asyncssh()).connectOptions(), transport: "channels" }),
        faults: { dropConnections: () => drop?.() },
        referenceQuirks: ["SigBlk:"],
      });
    });
  }
}
