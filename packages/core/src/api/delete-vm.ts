import { SandboxError } from "../errors.js";
import type { ExeDevApi } from "./exe-dev-api.js";

/**
 * Deletes one VM and makes sure it is gone: a VM that is already gone counts as deleted (as
 * `removeVm(name, { missingOk: true })`), so deleting twice is harmless, and one that exe.dev
 * keeps is an error instead of a `failed` entry to check.
 *
 * @example
 * import { createExeDevApi, deleteVm } from "@exedev-sandbox/core";
 *
 * await deleteVm(createExeDevApi(), "my-box"); // again: still fine
 *
 * @throws SandboxError `api_error` (details: `vm`) when exe.dev did not delete it, with its reasons.
 */
export async function deleteVm(api: Pick<ExeDevApi, "removeVm">, name: string): Promise<void> {
  const result = await api.removeVm(name, { missingOk: true });
  if (result.deleted.includes(name)) return;
  throw new SandboxError(
    "api_error",
    `exe.dev could not delete VM ${name}: ${result.errors.join("; ") || "no reason given"}.`,
    { details: { vm: name } },
  );
}
