import { SandboxError } from "@exedev-sandbox/core";

/**
 * Paperclip stores values typed into `format: "secret-ref"` fields as company secrets and hands
 * the plugin a reference while the config is being saved; the resolved value arrives when an
 * environment runs. These helpers tell the two apart.
 */

/** A Paperclip secret reference as it may appear in a config before resolution. */
export type SecretRef = string | { type: "secret_ref"; secretId: string; [key: string]: unknown };

/** A secret config field: the value itself, or a reference Paperclip has not resolved yet. */
export type SecretValue = string | SecretRef;

const SECRET_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for an unresolved reference: a secret id (UUID) or a `{ type: "secret_ref" }` binding. */
export function isSecretRef(value: unknown): boolean {
  if (typeof value === "string") return SECRET_ID.test(value.trim());
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { type?: unknown }).type === "secret_ref" &&
    typeof (value as { secretId?: unknown }).secretId === "string"
  );
}

/** The resolved text of a secret field, or an error naming the field when it is still a reference. */
export function secretText(field: string, value: SecretValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string" && !isSecretRef(value)) return value;
  throw new SandboxError(
    "invalid_argument",
    `${field} is a Paperclip secret reference that was not resolved; save the environment again so Paperclip can resolve it, or check that the secret still exists.`,
  );
}
