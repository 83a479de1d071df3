import { posix } from "node:path";
import { deleteVm, type ExeDevSandbox, generateVmName, SandboxError } from "@exedev-sandbox/core";
import type {
  PluginEnvironmentAcquireLeaseParams,
  PluginEnvironmentDestroyLeaseParams,
  PluginEnvironmentLease,
  PluginEnvironmentReleaseLeaseParams,
  PluginEnvironmentResumeLeaseParams,
  PluginEnvironmentTerminationReceipt,
} from "@paperclipai/plugin-sdk";
import { attachVmSandbox, createVmSandbox, type ExeDevClient } from "./exe-dev-client.js";
import {
  clientFor,
  DEFAULT_WORKSPACE,
  type HookContext,
  leaseKey,
  leaseWorkspace,
  remotePath,
  vmGone,
} from "./hook-context.js";

function leaseOf(
  client: ExeDevClient,
  sandbox: ExeDevSandbox,
  remoteCwd: string,
  resumed: boolean,
): PluginEnvironmentLease {
  const { vm } = sandbox;
  return {
    providerLeaseId: vm.name,
    // exe.dev VMs have no provider-side expiry; Paperclip then bounds the lease itself.
    expiresAt: null,
    metadata: {
      provider: "exe-dev",
      vmName: vm.name,
      sshHost: vm.sshHost,
      sshPort: vm.sshPort,
      httpsUrl: vm.httpsUrl ?? null,
      region: vm.region ?? null,
      homeDir: sandbox.homeDir,
      remoteCwd,
      template: client.config.templateVm ?? null,
      reuseLease: client.config.reuseLease,
      resumedLease: resumed,
    },
  };
}

/** Creates (or clones) a VM for a run, makes the requested working directory, and keeps the connection. */
export async function acquireLease(
  context: HookContext,
  params: PluginEnvironmentAcquireLeaseParams,
): Promise<PluginEnvironmentLease> {
  const client = clientFor(context, params.config);
  const name = generateVmName(client.config.namePrefix);
  const sandbox = await createVmSandbox(client, name, client.config.templateVm);
  try {
    const remoteCwd = remotePath(params.requestedCwd || DEFAULT_WORKSPACE, sandbox.homeDir);
    await sandbox.mkdir(remoteCwd, { recursive: true });
    context.connections.set(leaseKey(client, name), sandbox);
    context.logger?.info(`exe.dev: leased VM ${name} for run ${params.runId}.`, { vm: name });
    return leaseOf(client, sandbox, remoteCwd, false);
  } catch (error) {
    // Created with cleanup, so dispose() deletes the VM too; the first error is the one to report.
    await sandbox.dispose().catch(() => {});
    throw error;
  }
}

/** Reconnects to a lease's VM, or fails saying why it cannot (deleted, not running). */
export async function resumeLease(
  context: HookContext,
  params: PluginEnvironmentResumeLeaseParams,
): Promise<PluginEnvironmentLease> {
  const client = clientFor(context, params.config);
  const name = params.providerLeaseId;
  const vm = await client.api.getVm(name);
  if (!vm) throw vmGone(name);
  if (vm.status !== undefined && vm.status !== "running") {
    throw new SandboxError(
      "sandbox_died",
      `exe.dev VM ${name} is ${vm.status}, not running; restart it (ssh exe.dev restart ${name}) or acquire a new lease.`,
      { retryable: false, details: { vm: name, status: vm.status } },
    );
  }
  const sandbox = await attachVmSandbox(client, vm);
  try {
    const remoteCwd =
      leaseWorkspace({ metadata: params.leaseMetadata }) ?? posix.join(sandbox.homeDir, DEFAULT_WORKSPACE);
    await sandbox.mkdir(remoteCwd, { recursive: true });
    context.connections.set(leaseKey(client, name), sandbox);
    context.logger?.info(`exe.dev: resumed VM ${name}.`, { vm: name });
    return leaseOf(client, sandbox, remoteCwd, true);
  } catch (error) {
    await sandbox.close();
    throw error;
  }
}

/** Ends a run: deletes the VM, or with `reuseLease` only closes the connection and keeps the VM. */
export async function releaseLease(
  context: HookContext,
  params: PluginEnvironmentReleaseLeaseParams,
): Promise<PluginEnvironmentTerminationReceipt | undefined> {
  if (!params.providerLeaseId) return undefined;
  const client = clientFor(context, params.config);
  const name = params.providerLeaseId;
  await context.connections.close(leaseKey(client, name), { cancelWork: params.cancelActiveWork });
  if (client.config.reuseLease) {
    context.logger?.info(`exe.dev: released VM ${name}; kept for reuse.`, { vm: name });
    // The VM keeps running, so there is no termination to confirm.
    return undefined;
  }
  await deleteVm(client.api, name);
  context.logger?.info(`exe.dev: released and deleted VM ${name}.`, { vm: name });
  return { providerLeaseId: name, state: "destroyed" };
}

/** Deletes a lease's VM whatever `reuseLease` says; succeeds when the VM is already gone. */
export async function destroyLease(
  context: HookContext,
  params: PluginEnvironmentDestroyLeaseParams,
): Promise<PluginEnvironmentTerminationReceipt | undefined> {
  if (!params.providerLeaseId) return undefined;
  const client = clientFor(context, params.config);
  const name = params.providerLeaseId;
  await context.connections.close(leaseKey(client, name), { cancelWork: true });
  await deleteVm(client.api, name);
  context.logger?.info(`exe.dev: destroyed VM ${name}.`, { vm: name });
  return { providerLeaseId: name, state: "destroyed" };
}
