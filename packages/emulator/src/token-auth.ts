import { inspectToken, type TokenPermissions, verifyToken } from "@exedev-sandbox/core";
import type { StateStore } from "./state-store.js";

/** The namespace exe.dev's lobby API verifies tokens for. */
export const API_NAMESPACE = "v0@exe.dev";

/** The `cmds` a token allows when it names none, as on exe.dev (May 2026). */
export const DEFAULT_TOKEN_CMDS: readonly string[] = [
  "help",
  "ls",
  "new",
  "whoami",
  "ssh-key list",
  "share show",
  "exe0-to-exe1",
];

/** A caller whose token checked out. */
export interface Caller {
  fingerprint: string;
  cmds: readonly string[];
}

/** The token from an `Authorization` header: scheme matched case-insensitively, token trimmed. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^\s*bearer\s+(\S.*)$/is.exec(header ?? "");
  const token = match?.[1]?.trim();
  return token ? token : undefined;
}

/**
 * Authenticates an exe0 token as exe.dev does: the signing key embedded in the token must be a
 * registered key (found by fingerprint), and core's `verifyToken` checks the signature,
 * namespace, `exp` and `nbf` against it. Returns undefined for any failure.
 */
export function authenticate(token: string, store: StateStore): Caller | undefined {
  try {
    const { fingerprint } = inspectToken(token);
    const key = store.keyByFingerprint(fingerprint);
    if (!key) return undefined;
    const permissions: TokenPermissions = verifyToken(token, key.publicKey, {
      namespace: API_NAMESPACE,
    }).permissions;
    return { fingerprint: key.fingerprint, cmds: permissions.cmds ?? DEFAULT_TOKEN_CMDS };
  } catch {
    return undefined;
  }
}

/** A caller of a VM's proxy whose VM token checked out. */
export interface VmCaller {
  fingerprint: string;
  /** The token's `ctx`, passed to the app as `X-ExeDev-Token-Ctx`. */
  ctx?: unknown;
}

/**
 * Authenticates a VM (proxy) token as exe.dev's proxy does: signed by a registered key (the
 * emulator's one account owns every VM) for the namespace `v0@<vm>.exe.xyz`, within `exp`/`nbf`.
 * Returns undefined for any failure, a token for another VM included.
 */
export function authenticateVmToken(token: string, store: StateStore, vm: string): VmCaller | undefined {
  try {
    const { fingerprint } = inspectToken(token);
    const key = store.keyByFingerprint(fingerprint);
    if (!key) return undefined;
    const { permissions } = verifyToken(token, key.publicKey, { namespace: `v0@${vm}.exe.xyz` });
    return permissions.ctx === undefined
      ? { fingerprint: key.fingerprint }
      : { fingerprint: key.fingerprint, ctx: permissions.ctx };
  } catch {
    return undefined;
  }
}
