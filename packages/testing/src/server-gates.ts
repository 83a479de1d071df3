import { existsSync } from "node:fs";
import { describe, it } from "vitest";
import { hasAsyncssh } from "./asyncssh-server.ts";
import { DROPBEAR_SFTP_SERVER_PATH, findDropbear } from "./dropbear.ts";
import { hasTinysshd } from "./tinysshd.ts";

/**
 * `describe` for tests that need a server this machine may lack. Without it they are skipped
 * locally, with a note naming the package to install; under CI (`CI=true`) a missing server is
 * a failure, never a silent skip (`.ci/run` installs these packages).
 */
function describeWithServer(
  server: string,
  debianPackage: string,
  available: () => boolean,
): (name: string, body: () => void) => void {
  return (name, body) => {
    if (available()) {
      describe(name, body);
      return;
    }
    if (process.env.CI) {
      describe(name, () => {
        it(`needs ${server}`, () => {
          throw new Error(
            `${server} is missing on this CI machine; .ci/run installs ${debianPackage}, so check that step.`,
          );
        });
      });
      return;
    }
    console.warn(`[exedev-sandbox] skipping "${name}": install ${debianPackage} to run the ${server} tests.`);
    describe.skip(name, body);
  };
}

/** `describe` for tests that need Dropbear (`dropbear-bin`, plus `openssh-sftp-server` for SFTP). */
export const describeWithDropbear: (name: string, body: () => void) => void = describeWithServer(
  "Dropbear",
  "dropbear-bin and openssh-sftp-server",
  () => findDropbear() !== undefined && existsSync(DROPBEAR_SFTP_SERVER_PATH),
);

/** `describe` for tests that need the asyncssh server (Debian `python3-asyncssh`). */
export const describeWithAsyncssh: (name: string, body: () => void) => void = describeWithServer(
  "the asyncssh server",
  "python3-asyncssh",
  hasAsyncssh,
);

/** `describe` for tests that need tinysshd (Debian `tinysshd`). */
export const describeWithTinysshd: (name: string, body: () => void) => void = describeWithServer(
  "tinysshd",
  "tinysshd",
  hasTinysshd,
);
