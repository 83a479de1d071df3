import { generateVmName, isSandboxError, validateVmName } from "@exedev-sandbox/core";

// A sample of the words exe.dev keeps for itself; it compares them with hyphens removed.
const RESERVED = new Set([
  "admin",
  "administrator",
  "agent",
  "container",
  "docker",
  "exedev",
  "helloworld",
  "myvm",
  "root",
  "sandbox",
  "support",
  "testuser",
]);

/** Why a name cannot be used for a new VM, or undefined when it can. */
export function newVmNameProblem(name: string, taken: (name: string) => boolean): string | undefined {
  try {
    validateVmName(name);
  } catch (error) {
    return isSandboxError(error) ? error.message : "invalid VM name";
  }
  if (name.endsWith(".exe.xyz"))
    return `VM name ${JSON.stringify(name)} must be a bare name, not a host name.`;
  // exe.dev answers only "not available"; the emulator says why, so that a placeholder such as
  // `my-vm` copied from an example is not a puzzle. The prefix stays the same for clients that
  // match on it.
  const word = name.replaceAll("-", "");
  if (RESERVED.has(word)) {
    return `VM name ${JSON.stringify(name)} is not available: exe.dev reserves the word "${word}" (compared with hyphens removed, as are sandbox, admin and other generic names); pick a more specific name, e.g. "${name}-1a2b".`;
  }
  if (taken(name)) {
    return `VM name ${JSON.stringify(name)} is not available: a VM of that name exists (on exe.dev, names are unique across all customers).`;
  }
  return undefined;
}

/** A name as given on a command line for an existing VM: `foo.exe.xyz` means `foo`. */
export function bareVmName(given: string): string {
  return given.endsWith(".exe.xyz") ? given.slice(0, -".exe.xyz".length) : given;
}

/** A random free name, as exe.dev picks when `--name` is absent. */
export function freeVmName(taken: (name: string) => boolean): string {
  for (;;) {
    const name = generateVmName("vm");
    if (!taken(name)) return name;
  }
}
