import type { ExeDevSandbox } from "@exedev-sandbox/core";
import type {
  PluginEnvironmentSyncInParams,
  PluginEnvironmentSyncOutParams,
  PluginEnvironmentSyncResult,
  PluginSyncOperation,
} from "@paperclipai/plugin-sdk";
import { clientFor, type HookContext, leaseVm, leaseWorkspace, withLease } from "./hook-context.js";

/** Where post-upload commands run and how long each command may take. */
export interface SyncDefaults {
  cwd: string;
  timeoutMs: number;
}

/** Moves one operation's files one way and reports what it moved. */
export type SyncOperationRunner = (
  sandbox: ExeDevSandbox,
  operation: PluginSyncOperation,
  defaults: SyncDefaults,
) => Promise<{ files: number; bytes: number }>;

/** The part sync in and sync out share: the lease's connection, then each operation in order. */
export function runSyncHook(
  context: HookContext,
  params: PluginEnvironmentSyncInParams | PluginEnvironmentSyncOutParams,
  runOperation: SyncOperationRunner,
): Promise<PluginEnvironmentSyncResult> {
  const client = clientFor(context, params.config);
  return withLease(context, client, leaseVm(params.lease), async (sandbox) => {
    const defaults: SyncDefaults = {
      cwd: leaseWorkspace(params.lease) ?? sandbox.homeDir,
      timeoutMs: client.config.timeoutMs,
    };
    const operations: PluginEnvironmentSyncResult["operations"] = [];
    for (const operation of params.operations) {
      const totals = await runOperation(sandbox, operation, defaults);
      operations.push({
        operationId: operation.operationId,
        filesTransferred: totals.files,
        bytesTransferred: totals.bytes,
      });
    }
    return { operations };
  });
}
