/** An SSH key registered on the account, as `whoami` lists it. */
export interface AccountSshKey {
  /** The key in `authorized_keys` form. */
  publicKey: string;
  /** OpenSSH `SHA256:` fingerprint. */
  fingerprint: string;
  /** The key's label, when it has one. */
  name?: string;
  /** Whether this key signed the token making the request. */
  current: boolean;
}

/** The account behind the API token, from `whoami`. */
export interface WhoAmI {
  /** The account's email address. */
  email?: string;
  /** Region code of the account's VMs, e.g. `lax`. */
  region?: string;
  /** Human-readable region, e.g. `Los Angeles`. */
  regionDisplay?: string;
  /** SSH keys registered on the account. */
  sshKeys: AccountSshKey[];
  /** The record exactly as the server sent it. */
  raw: unknown;
}

function optionalText(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function toSshKey(value: unknown): AccountSshKey[] {
  if (typeof value !== "object" || value === null) return [];
  const entry = value as Record<string, unknown>;
  const publicKey = optionalText(entry.public_key) ?? "";
  const fingerprint = optionalText(entry.fingerprint) ?? "";
  if (publicKey === "" && fingerprint === "") return [];
  const key: AccountSshKey = { publicKey, fingerprint, current: entry.current === true };
  const name = optionalText(entry.name);
  if (name !== undefined) key.name = name;
  return [key];
}

/** Reads a `whoami` answer: `{email, region, region_display, ssh_keys:[…]}`; unknown fields stay in `raw`. */
export function toWhoAmI(value: unknown): WhoAmI {
  const record = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  const sshKeys = Array.isArray(record.ssh_keys) ? record.ssh_keys.flatMap(toSshKey) : [];
  const result: WhoAmI = { sshKeys, raw: value };
  const email = optionalText(record.email);
  if (email !== undefined) result.email = email;
  const region = optionalText(record.region);
  if (region !== undefined) result.region = region;
  const regionDisplay = optionalText(record.region_display);
  if (regionDisplay !== undefined) result.regionDisplay = regionDisplay;
  return result;
}
