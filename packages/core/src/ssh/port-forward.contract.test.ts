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

const servers = [
  { name: "OpenSSH", describeWith: describeWithSshd, use: useSshd },
  { name: "Dropbear", describeWith: describeWithDropbear, use: useDropbear },
];

for (const username of logins) {
  const who = username ?? "the current user";
  for (const { name, describeWith, use } of servers) {
    describeWith(`port forwarding on ${name}, logged in as ${who}`, () => {
      const server = use({ username });
      let drop: (() => void) | undefined;
      definePortForwardContract(`${name} (${who})`, {
        create: async () => {
          const running = await server();
          drop = running.dropConnections;
          return connectSandbox(running.connectOptions());
        },
        dropConnections: () => drop?.(),
      });
    });
  }
}
