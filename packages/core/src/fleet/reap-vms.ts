import { deleteVm } from "../api/delete-vm.js";
import type { ExeDevApi } from "../api/exe-dev-api.js";
import { checkTag } from "../api/tag-commands.js";
import { invalidArgument, isSandboxError } from "../errors.js";
import { CREATED_VM_TAG, expiryOf } from "./vm-marks.js";

/** Options for {@link reapVms}. */
export interface ReapVmsOptions {
  /** The API client; it needs `ls` and `rm`. */
  api: Pick<ExeDevApi, "listVms" | "removeVm">;
  /**
   * Also reap marked VMs created longer ago than this many milliseconds, expired or not (e.g.
   * ones made with `ttlMs: null`). @default undefined (only expired VMs)
   */
  olderThan?: number;
  /** Only VMs that carry this tag as well as the library's mark. @default undefined (any marked VM) */
  tag?: string;
  /** Report what would be deleted, delete nothing. @default false */
  dryRun?: boolean;
  /** The moment to compare expiries with, in ms since the epoch. @default Date.now() */
  now?: number;
}

/** One VM {@link reapVms} picked. */
export interface ReapedVm {
  /** The VM's name. */
  name: string;
  /** Why: its expiry passed, or it is older than `olderThan`. */
  reason: "expired" | "older_than";
  /** When it expired (`expired`) or was created (`older_than`). */
  since: Date;
  /** Whether it was deleted (false in a dry run or after an error). */
  deleted: boolean;
  /** Why the delete failed, when it did (the server's words, never a token). */
  error?: string;
}

/** What {@link reapVms} did, or would do in a dry run. */
export interface ReapVmsResult {
  /** The VMs picked, in `ls` order. */
  vms: ReapedVm[];
  /** How many marked VMs were looked at (after `tag`). */
  marked: number;
  /** Whether this was a dry run. */
  dryRun: boolean;
}

function checkOptions(options: ReapVmsOptions): void {
  if (typeof options !== "object" || options === null)
    throw invalidArgument("reapVms needs an options object.");
  const { api, olderThan, tag, dryRun, now } = options;
  if (typeof api !== "object" || api === null || typeof api.listVms !== "function") {
    throw invalidArgument("reapVms needs api (createExeDevApi()).");
  }
  if (
    olderThan !== undefined &&
    (typeof olderThan !== "number" || !Number.isFinite(olderThan) || olderThan < 0)
  ) {
    throw invalidArgument("olderThan must be a non-negative number of milliseconds.");
  }
  if (tag !== undefined) checkTag(tag);
  if (dryRun !== undefined && typeof dryRun !== "boolean") throw invalidArgument("dryRun must be a boolean.");
  if (now !== undefined && (typeof now !== "number" || !Number.isFinite(now))) {
    throw invalidArgument("now must be a number of milliseconds since the epoch.");
  }
}

/**
 * Deletes VMs this library created that outlived their lifetime: those tagged `exedev-sandbox`
 * whose `exedev-expires-<seconds>` tag has passed, and with `olderThan` also those created
 * longer ago than that. VMs without the mark are never touched. A VM already gone counts as
 * deleted; a failed delete is reported in the result, not thrown.
 *
 * @throws SandboxError `invalid_argument` for bad options (before any request); API errors of `ls`.
 * @example
 * import { createExeDevApi, reapVms } from "@exedev-sandbox/core";
 *
 * const { vms } = await reapVms({ api: createExeDevApi(), dryRun: true });
 * for (const vm of vms) console.log(vm.name, vm.reason);
 */
export async function reapVms(options: ReapVmsOptions): Promise<ReapVmsResult> {
  checkOptions(options);
  const now = options.now ?? Date.now();
  const dryRun = options.dryRun ?? false;
  const listed = await options.api.listVms(options.tag ?? CREATED_VM_TAG);
  // `ls <tag>` also matches names; only the tags decide.
  const marked = listed.filter(
    (vm) => vm.tags.includes(CREATED_VM_TAG) && (options.tag === undefined || vm.tags.includes(options.tag)),
  );
  const vms: ReapedVm[] = [];
  for (const vm of marked) {
    const expiresAt = expiryOf(vm.tags);
    const createdAt = vm.createdAt === undefined ? Number.NaN : Date.parse(vm.createdAt);
    let picked: Pick<ReapedVm, "reason" | "since"> | undefined;
    if (expiresAt !== undefined && expiresAt <= now)
      picked = { reason: "expired", since: new Date(expiresAt) };
    else if (options.olderThan !== undefined && createdAt <= now - options.olderThan) {
      picked = { reason: "older_than", since: new Date(createdAt) };
    }
    if (picked) vms.push({ name: vm.name, ...picked, deleted: false });
  }
  if (!dryRun) {
    for (const vm of vms) {
      try {
        await deleteVm(options.api, vm.name);
        vm.deleted = true;
      } catch (error) {
        vm.error = isSandboxError(error) || error instanceof Error ? error.message : String(error);
      }
    }
  }
  return { vms, marked: marked.length, dryRun };
}
