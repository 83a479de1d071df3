import {
  definePortForwardContract,
  describeWithDropbear,
  describeWithSshd,
  isRoot,
  UNPRIVILEGED_TEST_USER,
  useDropbear,
  useSshd,
} from "@exedev-sandbox/testing";
import { connectSandbox } from "../index.js";

// Forwarding does not depend on the command transport (it opens its own direct-tcpip channels
// and remote forwards on the connection), so each server and login runs it once.
const logins = isRoot() ? [undefined, UNPRIVILEGED_TEST_USER] : [undefined];

for (const username of logins) {
  const who = username ?? "the current user";
  describeWithSshd(`port forwarding on OpenSSH, logged in as ${who}`, () => {
    const sshd = useSshd({ username });
    let drop: (() => void) | undefined;
    definePortForwardContract(`OpenSSH (${who})`, {
      create: async () => {
        const server = await sshd();
        drop = server.dropConnections;
        return connectSandbox(server.connectOptions());
      },
      dropConnections: () => drop?.(),
    });
  });

  describeWithDropbear(`port forwarding on Dropbear, logged in as ${who}`, () => {
    const dropbear = useDropbear({ username });
    let drop: (() => void) | undefined;
    definePortForwardContract(`Dropbear (${who})`, {
      create: async () => {
        const server = await dropbear();
        drop = server.dropConnections;
        return connectSandbox(server.connectOptions());
      },
      dropConnections: () => drop?.(),
    });
  });
}
