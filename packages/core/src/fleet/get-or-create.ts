import type { ExeDevApi } from "../api/exe-dev-api.js";
import type { VmInfo } from "../api/vm-info.js";
import { validateVmName } from "../api/vm-name.js";
import type { NewVmOptions } from "../api/vm-options.js";
import { invalidArgument } from "../errors.js";

/** What {@link getOrCreateVm} found or made. */
export interface GotVm {
  vm: VmInfo;
  /** True only for the caller whose `new` made the VM. */
  created: boolean;
}

/**
 * The VM name a tag's get-or-create uses when none is given: the tag itself, made a valid VM
 * name. A name the account can hold once is what makes racing callers agree on one VM: exe.dev
 * refuses a second `new` with a taken name, and the loser attaches.
 */
export function vmNameForTag(tag: string): string {
  const name = tag.replace(/_/g, "-").replace(/-+/g, "-").replace(/-$/, "");
  try {
    return validateVmName(name);
  } catch {
    throw invalidArgument(
      `getOrCreate's tag "${tag}" does not make a valid VM name; pass one with create: { name }.`,
    );
  }
}

/**
 * Finds the VM to attach to, or creates it. With `tag`, a VM already carrying the tag is taken
 * (a running one first). Otherwise the VM named `create.name` is looked up and, when missing,
 * created; when that `new` fails because another caller created the name meanwhile (a race),
 * the VM it made is returned as found. Exactly one VM results however many callers race.
 */
export async function getOrCreateVm(
  api: ExeDevApi,
  create: NewVmOptions & { name: string },
  tag: string | undefined,
): Promise<GotVm> {
  if (tag !== undefined) {
    const tagged = (await api.listVms(tag)).filter((vm) => vm.tags.includes(tag));
    const found = tagged.find((vm) => vm.status === "running") ?? tagged[0];
    if (found) return { vm: found, created: false };
  }
  const existing = await api.getVm(create.name);
  if (existing) return { vm: existing, created: false };
  try {
    return { vm: await api.newVm(create), created: true };
  } catch (error) {
    const winner = await api.getVm(create.name).catch(() => undefined);
    if (winner) return { vm: winner, created: false };
    throw error;
  }
}
