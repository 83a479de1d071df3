import {
  defineAdapterContract,
  describeWithSshd,
  isRoot,
  UNPRIVILEGED_TEST_USER,
} from "@exedev-sandbox/testing";
import { paperclipContractSetup } from "./test-contract-harness.js";

describeWithSshd("the plugin through the SDK's environment harness, on OpenSSH", () => {
  // Paperclip's execute takes no abort signal, and the SDK defines no "sandbox died" error.
  defineAdapterContract("paperclip (createEnvironmentTestHarness execute)", {
    failures: "rejects",
    // Paperclip runs every command in a login shell: as root, a kill at the contract's 600 ms
    // deadline could land in the host's own root profile (see the option's docs).
    sshd: isRoot() ? { username: UNPRIVILEGED_TEST_USER } : {},
    capabilities: { cwd: true, timeout: true, abort: false },
    setup: paperclipContractSetup,
  });
});
