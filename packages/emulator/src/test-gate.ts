// Gates for tests that need programs outside Node (not part of the build): without them the
// tests are skipped locally with a note, and fail under CI (`CI=true`), never skipping silently.
import { describe, it } from "vitest";

/** What a group of tests needs, and what to tell whoever lacks it. */
export interface Requirement {
  /** Whether it is there. */
  available: boolean;
  /** What it is, e.g. "Debian python3 with paramiko and asyncssh". */
  what: string;
  /** How to get it. */
  install: string;
}

/** `describe` that runs only when `requirement` is met (see the notes at the top of this file). */
export function describeWith(name: string, requirement: Requirement, body: () => void): void {
  if (requirement.available) {
    describe(name, body);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      it(`needs ${requirement.what}`, () => {
        throw new Error(`${requirement.what} is missing on this CI machine: ${requirement.install}.`);
      });
    });
    return;
  }
  console.warn(`[exedev-sandbox] skipping "${name}": ${requirement.install} to run it.`);
  describe.skip(name, body);
}
