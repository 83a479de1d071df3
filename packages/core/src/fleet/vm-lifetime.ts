import type { ExeDevApi } from "../api/exe-dev-api.js";
import type { VmInfo } from "../api/vm-info.js";
import { SandboxError } from "../errors.js";
import { CREATED_VM_TAG, checkExtendMs, expiryOf, expiryTag, expiryTagsOf, markTags } from "./vm-marks.js";

/**
 * Marks a clone: `cp` copies the source's tags, so a copied expiry (the source's lifetime, not
 * this VM's) is replaced by this VM's own.
 */
export async function markClone(api: ExeDevApi, vm: VmInfo, ttlMs: number | undefined): Promise<VmInfo> {
  const copied = expiryTagsOf(vm.tags);
  if (copied.length > 0) await api.untagVm(vm.name, copied);
  const { tags } = await api.tagVm(vm.name, markTags(ttlMs));
  return { ...vm, tags };
}

/**
 * Moves a VM's expiry `ms` later (from now when it has none or it has passed): tags the new
 * expiry first, then removes the old ones, so a crash in between leaves the later one, which wins.
 * @returns the VM's tags afterwards and the new expiry
 */
export async function extendVmTtl(
  api: ExeDevApi,
  vm: VmInfo,
  ms: number,
): Promise<{ tags: string[]; expiresAt: Date }> {
  checkExtendMs(ms);
  if (!vm.tags.includes(CREATED_VM_TAG)) {
    throw new SandboxError(
      "unsupported",
      `VM ${vm.name} was not created by this library (no ${CREATED_VM_TAG} tag), so it has no lifetime to extend.`,
      { details: { vm: vm.name } },
    );
  }
  const current = expiryOf(vm.tags);
  const from = current === undefined || current < Date.now() ? Date.now() : current;
  const next = expiryTag(from + ms);
  const old = expiryTagsOf(vm.tags).filter((tag) => tag !== next);
  let { tags } = await api.tagVm(vm.name, [next]);
  if (old.length > 0) ({ tags } = await api.untagVm(vm.name, old));
  return { tags, expiresAt: new Date(expiryOf(tags) ?? from + ms) };
}
