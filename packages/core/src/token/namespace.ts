import { invalidArgument } from "../errors.js";

/** The signing namespace of lobby API tokens (`"v0@" + WebHost` on the server). */
export const DEFAULT_TOKEN_NAMESPACE = "v0@exe.dev";

/**
 * Checks a signing namespace. SSHSIG forbids an empty one; control characters are refused too,
 * as no exe.dev namespace has them and they would break `allowed_signers` files.
 */
export function checkNamespace(namespace: unknown, what = "namespace"): string {
  if (namespace === undefined) return DEFAULT_TOKEN_NAMESPACE;
  if (typeof namespace !== "string" || namespace === "") {
    throw invalidArgument(`${what} must be a non-empty string such as "v0@exe.dev" or "v0@<vm>.exe.xyz".`);
  }
  if (/[\u0000-\u001f\u007f]/.test(namespace)) {
    throw invalidArgument(`${what} must not contain control characters.`);
  }
  return namespace;
}
