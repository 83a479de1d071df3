import { createHash } from "node:crypto";
import type { VmInfo } from "@exedev-sandbox/core";

const identities = new WeakMap<object, number>();
let nextIdentity = 1;

/**
 * A key that is equal for equal `exedev()` arguments. Flue agents build a fresh factory on every
 * render, so this is how the next render finds the sandboxes of the last one. Plain data compares
 * by content; objects with behaviour (an `api` client) by identity. The key is a hash, so no key
 * material or token ends up as a readable Map key.
 */
export function configKey(target: string | VmInfo | undefined, options: object): string {
  // A VmInfo's status or raw record may change between look-ups; where to connect does not.
  const where =
    typeof target === "object"
      ? { name: target.name, sshHost: target.sshHost, sshPort: target.sshPort, sshUser: target.sshUser }
      : (target ?? null);
  const json = JSON.stringify([where, options], (_key, value: unknown) => canonical(value));
  return createHash("sha256").update(json).digest("hex");
}

function canonical(value: unknown): unknown {
  if (typeof value === "function") return identityOf(value);
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  if (ArrayBuffer.isView(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  const plain = prototype === Object.prototype || prototype === null;
  if (!plain || Object.values(value).some((entry) => typeof entry === "function")) return identityOf(value);
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function identityOf(value: object): string {
  let identity = identities.get(value);
  if (identity === undefined) {
    identity = nextIdentity++;
    identities.set(value, identity);
  }
  return `#object-${identity}`;
}
