import { createExeDevApi, type ExeDevApi } from "../api/exe-dev-api.js";
import { isSandboxError } from "../errors.js";
import { type ReapVmsResult, reapVms } from "./reap-vms.js";

/** The CLI's help text. */
export const REAP_USAGE = `Usage: exedev-sandbox reap [--older-than 2h] [--tag TAG] [--dry-run] [--json]

Deletes exe.dev VMs that @exedev-sandbox/core created (tag exedev-sandbox) and whose
expiry (tag exedev-expires-<unix seconds>) has passed. VMs without the mark are never touched.
  --older-than D  also VMs created longer ago than D (90s, 30m, 2h, 7d), expired or not
  --tag T         only VMs that also carry tag T
  --dry-run       print what would be deleted, delete nothing
  --json          print the result as one JSON document
Reads EXE_API_TOKEN (or EXE_API_KEY) and EXE_API_URL. Exit status 1 when a delete failed, 2 for bad usage.`;

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `2h`, `7d`, `500ms` (or a bare number of seconds) in milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  return match ? Number(match[1]) * UNITS[match[2] ?? "s"]! : undefined;
}

interface Output {
  log(text: string): void;
  error(text: string): void;
}

class UsageError extends Error {}

function parseArgs(args: readonly string[]): {
  olderThan?: number;
  tag?: string;
  dryRun: boolean;
  json: boolean;
} {
  const [command, ...rest] = args;
  if (command !== "reap")
    throw new UsageError(
      command === undefined ? "missing command" : `unknown command ${JSON.stringify(command)}`,
    );
  const parsed: { olderThan?: number; tag?: string; dryRun: boolean; json: boolean } = {
    dryRun: false,
    json: false,
  };
  for (let index = 0; index < rest.length; index++) {
    const [flag, inline] = rest[index]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => {
      const given = inline ?? rest[++index];
      if (given === undefined) throw new UsageError(`${flag} needs a value`);
      return given;
    };
    if (flag === "--dry-run") parsed.dryRun = true;
    else if (flag === "--json") parsed.json = true;
    else if (flag === "--tag") parsed.tag = value();
    else if (flag === "--older-than") {
      const ms = parseDuration(value());
      if (ms === undefined) throw new UsageError("--older-than needs a duration such as 90s, 30m, 2h or 7d");
      parsed.olderThan = ms;
    } else throw new UsageError(`unknown option ${JSON.stringify(flag.slice(0, 40))}`);
  }
  return parsed;
}

function printResult(result: ReapVmsResult, json: boolean, output: Output): void {
  if (json) {
    output.log(JSON.stringify(result));
    return;
  }
  for (const vm of result.vms) {
    const what = result.dryRun ? "would delete" : vm.deleted ? "deleted" : "FAILED";
    const why =
      vm.reason === "expired" ? `expired ${vm.since.toISOString()}` : `created ${vm.since.toISOString()}`;
    output.log(`${what} ${vm.name} (${why})${vm.error ? `: ${vm.error}` : ""}`);
  }
  const failed = result.vms.filter((vm) => vm.error !== undefined).length;
  const verb = result.dryRun ? "would delete" : "deleted";
  const count = result.dryRun ? result.vms.length : result.vms.length - failed;
  output.log(`${verb} ${count} of ${result.marked} marked VMs${failed ? `, ${failed} failed` : ""}.`);
}

/**
 * Runs the `exedev-sandbox` command line and returns its exit status: 0, 1 when a delete
 * failed (or the API did), 2 for bad usage. The token is read from the environment by the
 * API client and never printed.
 */
export async function runReapCli(
  args: readonly string[],
  output: Output,
  api: () => ExeDevApi = () => createExeDevApi(),
): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    output.log(REAP_USAGE);
    return 0;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    output.error(`exedev-sandbox: ${error.message}\n\n${REAP_USAGE}`);
    return 2;
  }
  try {
    const result = await reapVms({ api: api(), ...parsed });
    printResult(result, parsed.json, output);
    return result.vms.some((vm) => vm.error !== undefined) ? 1 : 0;
  } catch (error) {
    // SandboxError messages never carry the token; anything else is shown by its message only.
    const message = isSandboxError(error) || error instanceof Error ? error.message : String(error);
    output.error(`exedev-sandbox: ${message}`);
    return isSandboxError(error) && error.code === "invalid_argument" ? 2 : 1;
  }
}
