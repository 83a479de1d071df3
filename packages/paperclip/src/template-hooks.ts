import { deleteVm, generateVmName, type VmInfo } from "@exedev-sandbox/core";
import type {
  PluginEnvironmentCancelInteractiveSetupParams,
  PluginEnvironmentCancelInteractiveSetupResult,
  PluginEnvironmentCaptureTemplateParams,
  PluginEnvironmentCaptureTemplateResult,
  PluginEnvironmentDeleteTemplateParams,
  PluginEnvironmentDeleteTemplateResult,
  PluginEnvironmentGetInteractiveSetupParams,
  PluginEnvironmentInteractiveSetupSession,
  PluginEnvironmentInteractiveSetupStatus,
  PluginEnvironmentStartInteractiveSetupParams,
} from "@paperclipai/plugin-sdk";
import { type ExeDevClient, newVmOptions } from "./exe-dev-client.js";
import { clientFor, type HookContext, leaseVm, vmGone } from "./hook-context.js";

/** How captured templates are referred to: the name of a VM kept only to be cloned by leases. */
export const TEMPLATE_KIND = "provider_template";

function setupStatus(vm: VmInfo): PluginEnvironmentInteractiveSetupStatus {
  if (vm.status === undefined || vm.status === "running") return "waiting_for_user";
  if (vm.status === "failed") return "failed";
  return vm.status === "stopped" ? "failed" : "starting";
}

function sshCommand(vm: VmInfo): string {
  const port = vm.sshPort === 22 ? "" : `-p ${vm.sshPort} `;
  return `ssh ${port}${vm.sshUser ? `${vm.sshUser}@` : ""}${vm.sshHost}`;
}

function session(
  client: ExeDevClient,
  vm: VmInfo,
  includePayload: boolean,
): PluginEnvironmentInteractiveSetupSession {
  return {
    providerLeaseId: vm.name,
    status: setupStatus(vm),
    connectionSummary: {
      type: "ssh",
      username: vm.sshUser ?? client.config.user ?? null,
      hostRedacted: true,
      portRedacted: true,
      commandRedacted: true,
      metadata: { provider: "exe-dev" },
    },
    // exe.dev lets in keys registered on the account; the command itself carries no credential.
    connectionPayload: includePayload
      ? { type: "ssh", command: sshCommand(vm), token: null, expiresAt: null }
      : null,
    expiresAt: null,
    metadata: { provider: "exe-dev", vmName: vm.name, interactiveSetup: true },
  };
}

/** A fresh name under the config's prefix, marked with `tag` when the prefix leaves room for it. */
function nameFor(client: ExeDevClient, tag: string): string {
  try {
    return generateVmName(`${client.config.namePrefix}-${tag}`);
  } catch {
    return generateVmName(client.config.namePrefix);
  }
}

/** Creates a setup VM (from a template when given) that an operator customises over SSH. */
export async function startInteractiveSetup(
  context: HookContext,
  params: PluginEnvironmentStartInteractiveSetupParams,
): Promise<PluginEnvironmentInteractiveSetupSession> {
  const client = clientFor(context, params.config);
  const name = nameFor(client, "setup");
  const source = params.sourceTemplateRef || client.config.templateVm;
  const vm = source
    ? await client.api.cloneVm(source, { name })
    : await client.api.newVm(newVmOptions(client.config, name));
  context.logger?.info(`exe.dev: started setup VM ${vm.name}.`, { vm: vm.name });
  return session(client, vm, false);
}

/** The setup VM's state, plus the SSH command to reach it when Paperclip asks for it. */
export async function getInteractiveSetup(
  context: HookContext,
  params: PluginEnvironmentGetInteractiveSetupParams,
): Promise<PluginEnvironmentInteractiveSetupSession> {
  const client = clientFor(context, params.config);
  const vm = params.providerLeaseId ? await client.api.getVm(params.providerLeaseId) : undefined;
  if (!vm) {
    return {
      providerLeaseId: params.providerLeaseId,
      status: "missing",
      connectionSummary: null,
      connectionPayload: null,
    };
  }
  return session(client, vm, params.includeConnectionPayload === true);
}

/**
 * Captures a VM as a template by cloning it (`cp`): the clone is the template, and leases of an
 * environment whose `templateVm` names it start as copies of it. A setup VM is deleted once
 * captured; a lease's VM is left alone.
 */
export async function captureTemplate(
  context: HookContext,
  params: PluginEnvironmentCaptureTemplateParams,
): Promise<PluginEnvironmentCaptureTemplateResult> {
  const client = clientFor(context, params.config);
  const source = leaseVm({ providerLeaseId: params.providerLeaseId });
  if (!(await client.api.getVm(source))) throw vmGone(source);
  const template = await client.api.cloneVm(source, { name: nameFor(client, "tpl") });
  if (params.setupMetadata?.interactiveSetup === true) await deleteVm(client.api, source);
  context.logger?.info(`exe.dev: captured VM ${source} as template ${template.name}.`, { vm: source });
  return {
    templateRef: template.name,
    templateKind: TEMPLATE_KIND,
    metadata: { provider: "exe-dev", sourceVm: source, label: params.templateLabel ?? null },
  };
}

/** Deletes a setup VM without capturing it. */
export async function cancelInteractiveSetup(
  context: HookContext,
  params: PluginEnvironmentCancelInteractiveSetupParams,
): Promise<PluginEnvironmentCancelInteractiveSetupResult> {
  const client = clientFor(context, params.config);
  if (!params.providerLeaseId || !(await client.api.getVm(params.providerLeaseId)))
    return { status: "missing" };
  await deleteVm(client.api, params.providerLeaseId);
  return { status: /time/i.test(params.reason ?? "") ? "timed_out" : "cancelled" };
}

/** Deletes a captured template VM; `deleted` is false when it was already gone. */
export async function deleteTemplate(
  context: HookContext,
  params: PluginEnvironmentDeleteTemplateParams,
): Promise<PluginEnvironmentDeleteTemplateResult> {
  const client = clientFor(context, params.config);
  if (!(await client.api.getVm(params.templateRef))) return { deleted: false };
  await deleteVm(client.api, params.templateRef);
  context.logger?.info(`exe.dev: deleted template ${params.templateRef}.`, { vm: params.templateRef });
  return { deleted: true };
}
