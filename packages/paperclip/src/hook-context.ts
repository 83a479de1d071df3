import { posix } from "node:path";
import { type ExeDevSandbox, type SandboxCache, SandboxError } from "@exedev-sandbox/core";
import type { PluginEnvironmentLease, PluginLogger } from "@paperclipai/plugin-sdk";
import { checkConfig } from "./config.js";
import { attachVmSandbox, type ExeDevClient, exeDevClient, type HostSettings } from "./exe-dev-client.js";

/** What the hooks share inside one plugin worker. */
export interface HookContext {
  /** Worker-level settings (environment variables, known_hosts). */
  host: HostSettings;
  /** The open connection of each lease this worker serves, keyed by {@link leaseKey}. */
  connections: SandboxCache<ExeDevSandbox>;
  /** Paperclip's logger (redacting), once `setup` ran. */
  logger: PluginLogger | undefined;
  /** Streams output of the running execute call to Paperclip's run log. */
  executionLog: ((stream: "stdout" | "stderr", chunk: string) => void) | undefined;
}

/** Name of the workspace directory made in the home directory when Paperclip names none. */
export const DEFAULT_WORKSPACE = "paperclip-workspace";

/** The environment's client; throws one error listing every bad field of an invalid config. */
export function clientFor(context: HookContext, rawConfig: Record<string, unknown>): ExeDevClient {
  const { config, errors } = checkConfig(rawConfig, context.host.env);
  if (errors.length > 0) {
    throw new SandboxError("invalid_argument", `Invalid exe.dev environment config: ${errors.join(" ")}`, {
      details: { errors },
    });
  }
  return exeDevClient(config, context.host);
}

/** The cache key of a lease's connection: the account's API and the VM name. */
export function leaseKey(client: ExeDevClient, vmName: string): string {
  return `${client.config.apiUrl ?? "default"} ${vmName}`;
}

/** The VM name of a lease, or an error saying the lease has none. */
export function leaseVm(lease: PluginEnvironmentLease | { providerLeaseId: string | null }): string {
  if (typeof lease.providerLeaseId !== "string" || lease.providerLeaseId === "") {
    throw new SandboxError(
      "invalid_argument",
      "This lease has no exe.dev VM (providerLeaseId is empty); acquire a lease first.",
    );
  }
  return lease.providerLeaseId;
}

/** The error for a lease whose VM no longer exists. */
export function vmGone(vmName: string): SandboxError {
  return new SandboxError(
    "not_found",
    `exe.dev VM ${vmName} no longer exists (it was deleted or never created in this account); acquire a new lease.`,
    { details: { vm: vmName } },
  );
}

/** Connects to an existing lease's VM, failing clearly when it is gone. */
export async function connectToLease(client: ExeDevClient, vmName: string): Promise<ExeDevSandbox> {
  const vm = await client.api.getVm(vmName);
  if (!vm) throw vmGone(vmName);
  return attachVmSandbox(client, vm);
}

/** Runs `work` on the lease's cached connection (dialling it if this worker has none). */
export function withLease<T>(
  context: HookContext,
  client: ExeDevClient,
  vmName: string,
  work: (sandbox: ExeDevSandbox) => Promise<T>,
): Promise<T> {
  return context.connections.use(leaseKey(client, vmName), () => connectToLease(client, vmName), work);
}

/** An absolute remote path: `path` itself, or resolved against `base` when relative. */
export function remotePath(path: string, base: string): string {
  if (path.includes("\0"))
    throw new SandboxError("invalid_argument", "Remote paths must not contain NUL bytes.");
  return posix.resolve(base, path);
}

/** The workspace directory recorded on a lease, if any. */
export function leaseWorkspace(lease: { metadata?: Record<string, unknown> | null }): string | undefined {
  const value = lease.metadata?.remoteCwd;
  return typeof value === "string" && value.startsWith("/") ? value : undefined;
}
