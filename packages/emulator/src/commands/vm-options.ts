import { CommandFailure } from "./command.js";

const GIB = 1024 ** 3;
// exe.dev reads every unit as binary (1024-based), and a bare number as GiB.
const UNITS: Readonly<Record<string, number>> = {
  "": GIB,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: GIB,
  gb: GIB,
  gib: GIB,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};
const TAG = /^[a-z][a-z0-9_-]*$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_COMMENT_BYTES = 200;
const MAX_CPUS = 64;

/** exe.dev's production defaults and minimums. */
export const VM_DEFAULTS: Readonly<{ cpus: number; memoryBytes: number; diskBytes: number }> = {
  cpus: 2,
  memoryBytes: 8 * GIB,
  diskBytes: 25 * GIB,
};

/** Parses `--memory`/`--disk` (`8GB`, `512MiB`, `16`); undefined when absent. */
export function parseSize(value: string | undefined, flag: "memory" | "disk"): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = match ? UNITS[(match[2] ?? "").toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new CommandFailure(`invalid --${flag} ${JSON.stringify(value)}: use a size such as 8GB or 16GiB`);
  }
  const bytes = Math.round(Number(match[1]) * unit);
  const minimum = flag === "memory" ? 2 * GIB : 10 * GIB;
  if (bytes < minimum) {
    throw new CommandFailure(`--${flag} must be at least ${minimum / GIB}GiB`);
  }
  return bytes;
}

/** Checks `--cpu`. */
export function checkCpus(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value < 1 || value > MAX_CPUS) throw new CommandFailure(`--cpu must be between 1 and ${MAX_CPUS}`);
  return value;
}

/** `--tag` values (repeated or comma-separated), checked, sorted and de-duplicated. */
export function parseTags(values: readonly string[]): string[] {
  const tags = values.flatMap((value) => value.split(",")).filter((tag) => tag !== "");
  for (const tag of tags) {
    if (!TAG.test(tag))
      throw new CommandFailure(`invalid tag ${JSON.stringify(tag)}: must match ${TAG.source}`);
  }
  return [...new Set(tags)].sort();
}

/** Checks `--comment`: at most 200 bytes, no control characters. */
export function checkComment(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (CONTROL.test(value))
    throw new CommandFailure("comment must not contain newlines, tabs or control characters");
  if (Buffer.byteLength(value) > MAX_COMMENT_BYTES) {
    throw new CommandFailure(`comment must be at most ${MAX_COMMENT_BYTES} bytes`);
  }
  return value;
}

/** `--env KEY=VALUE` pairs; like exe.dev, names that are not shell identifiers are skipped. */
export function parseEnv(values: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of values) {
    const equals = pair.indexOf("=");
    if (equals === -1) throw new CommandFailure("invalid --env: use KEY=VALUE"); // the value may be secret
    const name = pair.slice(0, equals);
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) env[name] = pair.slice(equals + 1);
  }
  return env;
}
