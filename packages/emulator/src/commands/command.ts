import type { FlagSpec, ParsedArgs } from "../flags.js";
import type { ProcessRunner } from "../process-runner.js";
import type { StateStore } from "../state-store.js";

/** What a lobby command answers: an HTTP status and one JSON document per line. */
export interface CommandResult {
  status: number;
  lines: unknown[];
}

/** The SSH gateway as the lobby sees it: where VMs are reached, and how to cut a VM off. */
export interface GatewayHandle {
  host: string;
  port: number;
  /** Port of the HTTP proxy that serves the VMs' URLs (`http://<vm>.localhost:<port>/`). */
  httpProxyPort: number;
  /** Drops every SSH connection to a VM, as its shutdown would. */
  disconnect(vm: string): void;
}

/** Everything a command may touch. */
export interface CommandContext {
  store: StateStore;
  processes: ProcessRunner;
  gateway: GatewayHandle;
  /** Names being created right now (`cp` copies take a while), which count as taken. */
  pendingNames: Set<string>;
  /** Fingerprint of the key that signed the caller's token. */
  callerFingerprint: string;
}

/** One lobby command. */
export interface CommandDefinition {
  /** Canonical command path, e.g. `ls` or `ssh-key list`: what a token's `cmds` must name. */
  name: string;
  description: string;
  usage: string;
  flags: FlagSpec;
  run(args: ParsedArgs, context: CommandContext): CommandResult | Promise<CommandResult>;
}

/** The command ran and failed: HTTP 422 with `{"error": message}`. */
export class CommandFailure extends Error {
  override readonly name = "CommandFailure";
}

/** A successful one-document answer. */
export function ok(body: unknown): CommandResult {
  return { status: 200, lines: [body] };
}

/** Whether a VM name is in use or being created. */
export function isTaken(context: CommandContext, name: string): boolean {
  return context.store.vm(name) !== undefined || context.pendingNames.has(name);
}

/** `--json` is accepted everywhere; over HTTPS JSON is always on. */
export const JSON_FLAG: FlagSpec = {
  json: { type: "bool", description: "Output JSON (always on over HTTPS)" },
};
