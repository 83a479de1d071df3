import { randomInt } from "node:crypto";
import { invalidArgument } from "../errors.js";

const MIN_NAME_LENGTH = 5;
const MAX_NAME_LENGTH = 52;
const NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
// exe.dev reserves these shapes for its own port and routing syntax, answering "not available".
const RESERVED_SUFFIX = /-(p|port)[0-9]+$/;
const RESERVED_WHOLE = /^(p|port|na)[0-9]+$/;
const HOST_SUFFIX = ".exe.xyz";

const DEFAULT_PREFIX = "sbx";
const SUFFIX_LENGTH = 8;
const SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
// The server silently refuses names containing these words; a random suffix could spell the short ones.
const SERVER_DENIED_WORDS = ["hiv", "lupus", "xanax", "prozac", "ambien", "cialis", "herpes", "viagra"];

/**
 * Checks a VM name against exe.dev's rules and returns it normalised: `foo.exe.xyz` becomes `foo`.
 *
 * The rules: 5 to 52 characters; lowercase letters, digits and single hyphens; starts with a
 * letter; no trailing hyphen; does not end in `-p<digits>` or `-port<digits>`; is not
 * `p<digits>`, `port<digits>` or `na<digits>`. The server also refuses reserved words (such as
 * `sandbox` or `admin`) and names taken by any other customer; those are only known when `new` runs.
 *
 * @throws SandboxError `invalid_argument` when the name breaks a rule.
 * @example
 * validateVmName("build-42.exe.xyz"); // "build-42"
 */
export function validateVmName(name: string): string {
  if (typeof name !== "string") {
    throw invalidArgument("VM name must be a string.");
  }
  const bare = name.endsWith(HOST_SUFFIX) ? name.slice(0, -HOST_SUFFIX.length) : name;
  const shown = JSON.stringify(bare.slice(0, 64));
  if (bare.length < MIN_NAME_LENGTH || bare.length > MAX_NAME_LENGTH) {
    throw invalidArgument(
      `VM name ${shown} must be ${MIN_NAME_LENGTH} to ${MAX_NAME_LENGTH} characters long.`,
      { length: bare.length },
    );
  }
  if (!NAME_PATTERN.test(bare)) {
    throw invalidArgument(
      `VM name ${shown} must start with a lowercase letter and contain only lowercase letters, digits and single hyphens, not ending in a hyphen.`,
    );
  }
  if (RESERVED_SUFFIX.test(bare) || RESERVED_WHOLE.test(bare)) {
    throw invalidArgument(
      `VM name ${shown} looks like a port (ends in -p<digits>/-port<digits>, or is p<digits>/port<digits>/na<digits>); exe.dev does not allow it.`,
    );
  }
  return bare;
}

function randomSuffix(): string {
  let suffix = "";
  for (let index = 0; index < SUFFIX_LENGTH; index++) {
    suffix += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  }
  return suffix;
}

function isAcceptable(name: string): boolean {
  try {
    validateVmName(name);
  } catch {
    return false;
  }
  return !SERVER_DENIED_WORDS.some((word) => name.includes(word));
}

/**
 * A random VM name such as `sbx-k3j9x2ab`: the prefix, a hyphen and 8 random lowercase letters
 * and digits from the system's cryptographic generator (about 2.8e12 possibilities).
 *
 * exe.dev names are unique across all customers, so a random suffix is what makes a name free;
 * it also serves as an idempotency key when a create has to be checked after a lost answer.
 *
 * @param prefix Start of the name; it must itself follow the VM-name character rules and be at
 *   most 43 characters long. @default "sbx"
 * @throws SandboxError `invalid_argument` for a bad prefix.
 */
export function generateVmName(prefix: string = DEFAULT_PREFIX): string {
  const maxPrefixLength = MAX_NAME_LENGTH - SUFFIX_LENGTH - 1;
  if (typeof prefix !== "string" || prefix.length === 0 || prefix.length > maxPrefixLength) {
    throw invalidArgument(`VM name prefix must be 1 to ${maxPrefixLength} characters long.`);
  }
  if (!NAME_PATTERN.test(prefix)) {
    throw invalidArgument(
      `VM name prefix ${JSON.stringify(prefix.slice(0, 64))} must start with a lowercase letter and contain only lowercase letters, digits and single hyphens, not ending in a hyphen.`,
    );
  }
  if (SERVER_DENIED_WORDS.some((word) => prefix.includes(word))) {
    throw invalidArgument(`VM name prefix ${JSON.stringify(prefix)} contains a word exe.dev refuses.`);
  }
  // Rejection sampling: a suffix such as "p1234567" would form a reserved "-p<digits>" ending.
  for (;;) {
    const name = `${prefix}-${randomSuffix()}`;
    if (isAcceptable(name)) return name;
  }
}
