import { type ExeDevSandbox, redactError, SandboxCache } from "@exedev-sandbox/core";
import { definePlugin, type PaperclipPlugin } from "@paperclipai/plugin-sdk";
import { checkConfig } from "./config.js";
import type { ExeDevEnvironmentConfig } from "./config-schema.js";
import type { HookContext } from "./hook-context.js";
import { runnerIngressEndpoint } from "./ingress-hook.js";
import { acquireLease, destroyLease, releaseLease, resumeLease } from "./lease-hooks.js";
import { probe } from "./probe-hook.js";
import { redactingLogger, redactionScope } from "./redacting-logger.js";
import { redactorFor } from "./redaction.js";
import { syncIn } from "./sync-in.js";
import { syncOut } from "./sync-out.js";
import {
  cancelInteractiveSetup,
  captureTemplate,
  deleteTemplate,
  getInteractiveSetup,
  startInteractiveSetup,
} from "./template-hooks.js";
import { validateConfig } from "./validate-hook.js";
import { execute, realizeWorkspace } from "./workspace-hooks.js";

/** Options of {@link createExeDevPlugin}: settings of the worker process, not of an environment. */
export interface ExeDevPluginOptions {
  /**
   * known_hosts file read by the `accept-new` and `strict` host-key policies (and appended to by
   * `accept-new`).
   * @default ~/.ssh/known_hosts of the user running the Paperclip server
   */
  knownHostsPath?: string;
  /** Where the `EXE_API_KEY` / `EXE_API_TOKEN` fallback is read from. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * Builds the exe.dev sandbox-provider plugin: every environment hook of the Paperclip SDK, on
 * exe.dev VMs reached through one persistent SSH connection per lease. Errors and log lines
 * never contain the environment's secrets.
 *
 * @example
 * // worker.ts
 * import { runWorker } from "@paperclipai/plugin-sdk";
 * const plugin = createExeDevPlugin();
 * export default plugin;
 * runWorker(plugin, import.meta.url);
 */
export function createExeDevPlugin(options: ExeDevPluginOptions = {}): PaperclipPlugin {
  const host = { env: options.env ?? process.env, knownHostsPath: options.knownHostsPath };
  const context: HookContext = {
    host,
    connections: new SandboxCache<ExeDevSandbox>(),
    logger: undefined,
    executionLog: undefined,
  };
  // Every hook runs inside its environment's redaction scope, and rethrows only redacted errors.
  const hook =
    <P extends { config: Record<string, unknown> }, R>(
      name: string,
      run: (context: HookContext, params: P) => Promise<R>,
    ): ((params: P) => Promise<R>) =>
    (params) => {
      const raw = params?.config ?? {};
      const { config } = checkConfig(raw, host.env);
      // The raw fields too: validation drops values it rejects, and those must stay hidden.
      const rawEnv =
        typeof raw.env === "object" && raw.env !== null ? (raw.env as Record<string, string>) : {};
      const redact = redactorFor(
        [config, { ...raw, env: rawEnv } as Partial<ExeDevEnvironmentConfig>],
        host.env,
      );
      return redactionScope.run(redact, async () => {
        try {
          return await run(context, params);
        } catch (error) {
          const safe = redactError(error, redact);
          context.logger?.warn(`exe.dev: ${name} failed: ${safe.message}`);
          throw safe;
        }
      });
    };

  return definePlugin({
    async setup(ctx) {
      context.logger = redactingLogger(ctx.logger);
      context.executionLog = (stream, chunk) => ctx.execution.log(stream, chunk);
      context.logger.info("exe.dev sandbox provider ready.");
    },
    async onHealth() {
      return { status: "ok", message: "exe.dev sandbox provider ready." };
    },
    async onShutdown() {
      // Shutting down: a connection that fails to close has nobody left to tell.
      await context.connections.closeAll({ cancelWork: true }).catch(() => {});
    },
    onEnvironmentValidateConfig: hook("validateConfig", validateConfig),
    // A probe reports failures as data, so its result is redacted like an error would be.
    onEnvironmentProbe: hook("probe", async (context, params) => {
      const result = await probe(context, params);
      const redact = redactionScope.getStore();
      return redact ? (JSON.parse(redact(JSON.stringify(result))) as typeof result) : result;
    }),
    onEnvironmentAcquireLease: hook("acquireLease", acquireLease),
    onEnvironmentResumeLease: hook("resumeLease", resumeLease),
    onEnvironmentReleaseLease: hook("releaseLease", releaseLease),
    onEnvironmentDestroyLease: hook("destroyLease", destroyLease),
    onEnvironmentRealizeWorkspace: hook("realizeWorkspace", realizeWorkspace),
    onEnvironmentExecute: hook("execute", execute),
    onEnvironmentRunnerIngressEndpoint: hook("runnerIngressEndpoint", runnerIngressEndpoint),
    onEnvironmentSyncIn: hook("syncIn", syncIn),
    onEnvironmentSyncOut: hook("syncOut", syncOut),
    onEnvironmentStartInteractiveSetup: hook("startInteractiveSetup", startInteractiveSetup),
    onEnvironmentGetInteractiveSetup: hook("getInteractiveSetup", getInteractiveSetup),
    onEnvironmentCaptureTemplate: hook("captureTemplate", captureTemplate),
    onEnvironmentCancelInteractiveSetup: hook("cancelInteractiveSetup", cancelInteractiveSetup),
    onEnvironmentDeleteTemplate: hook("deleteTemplate", deleteTemplate),
  });
}
