import type { KeyRecord } from "../state-store.js";
import { type CommandContext, type CommandDefinition, JSON_FLAG, ok } from "./command.js";

/** The emulator's one account. */
export const ACCOUNT_EMAIL = "you@emulator.local";

function keyEntry(key: KeyRecord, context: CommandContext) {
  return {
    public_key: key.publicKey,
    fingerprint: key.fingerprint,
    name: key.name,
    current: key.fingerprint === context.callerFingerprint,
  };
}

/** `whoami`: the account and its keys; `current` marks the key that signed the token. */
export const whoamiCommand: CommandDefinition = {
  name: "whoami",
  description: "Show the account",
  usage: "whoami",
  flags: JSON_FLAG,
  run(_args, context) {
    return ok({
      email: ACCOUNT_EMAIL,
      region: "local",
      region_display: "Local emulator",
      ssh_keys: context.store.keys().map((key) => keyEntry(key, context)),
    });
  },
};

/** `ssh-key list`: registered keys (for SSH logins and token signing). */
export const sshKeyListCommand: CommandDefinition = {
  name: "ssh-key list",
  description: "List SSH keys",
  usage: "ssh-key list",
  flags: JSON_FLAG,
  run(_args, context) {
    return ok({
      ssh_keys: context.store.keys().map((key) => ({
        public_key: key.publicKey,
        fingerprint: key.fingerprint,
        name: key.name,
        added_at: key.addedAt,
        last_used_at: key.lastUsedAt ?? null,
        current: key.fingerprint === context.callerFingerprint,
      })),
    });
  },
};
