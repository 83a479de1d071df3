import { describe, it } from "vitest";
import { findSshd } from "./sshd.ts";

/**
 * `describe` for tests that need a real sshd. Without one they are skipped locally, with a note
 * on how to enable them; under CI (`CI=true`) a missing sshd is a failure, never a silent skip.
 */
export function describeWithSshd(name: string, body: () => void): void {
  if (findSshd()) {
    describe(name, body);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      it("needs sshd", () => {
        throw new Error(
          "sshd is missing on this CI machine; .ci/run installs openssh-server, so check that step.",
        );
      });
    });
    return;
  }
  console.warn(`[exedev-sandbox] skipping "${name}": install openssh-server (sshd) to run the SSH tests.`);
  describe.skip(name, body);
}
