import { readFile } from "node:fs/promises";
import { generateVmName, isSandboxError, publicKeyOf, type WhoAmI } from "@exedev-sandbox/core";
import type {
  PluginEnvironmentDiagnostic,
  PluginEnvironmentProbeParams,
  PluginEnvironmentProbeResult,
} from "@paperclipai/plugin-sdk";
import { checkConfig } from "./config.js";
import { createVmSandbox, type ExeDevClient, exeDevClient } from "./exe-dev-client.js";
import type { HookContext } from "./hook-context.js";
import { loginShellCommand } from "./login-shell.js";

const PROBE_MARKER = "paperclip-exe-dev-probe-ok";

function failure(
  code: string,
  message: string,
  diagnostics: PluginEnvironmentDiagnostic[],
): PluginEnvironmentProbeResult {
  return { ok: false, summary: message, diagnostics: [...diagnostics, { severity: "error", code, message }] };
}

/** The public key and fingerprint of the configured key, without any I/O beyond reading its file. */
async function configuredKey(
  client: ExeDevClient,
): Promise<{ publicKey: string; fingerprint: string } | undefined> {
  const material =
    client.ssh.privateKey ??
    (client.ssh.privateKeyPath
      ? await readFile(client.ssh.privateKeyPath, "utf8").catch(() => undefined)
      : undefined);
  if (material === undefined) return undefined;
  try {
    return publicKeyOf(material);
  } catch {
    return undefined;
  }
}

/** Checks the account behind the token: reachable, onboarded, and holding the configured SSH key. */
async function checkAccount(
  client: ExeDevClient,
  diagnostics: PluginEnvironmentDiagnostic[],
): Promise<PluginEnvironmentProbeResult | undefined> {
  let account: WhoAmI;
  try {
    account = await client.api.whoami();
  } catch (error) {
    if (isSandboxError(error, "permission_denied")) {
      diagnostics.push({
        severity: "warning",
        code: "whoami_not_allowed",
        message: "The API token may not run whoami, so the account's SSH keys were not checked.",
      });
      return undefined;
    }
    const code = isSandboxError(error) ? error.code : "api_unreachable";
    return failure(code, `exe.dev API check failed: ${(error as Error).message}`, diagnostics);
  }
  diagnostics.push({
    severity: "info",
    message: `exe.dev account reached (region ${account.region ?? "unknown"}).`,
  });
  if (account.sshKeys.length === 0) {
    return failure(
      "onboarding_required",
      "The exe.dev account has no SSH key yet, so it has not finished onboarding: run `ssh exe.dev` once from a machine with your key and follow the sign-up steps, then probe again.",
      diagnostics,
    );
  }
  const key = await configuredKey(client);
  if (key && !account.sshKeys.some((registered) => registered.fingerprint === key.fingerprint)) {
    return failure(
      "ssh_key_not_registered",
      `The configured SSH key (${key.fingerprint}) is not registered with this exe.dev account; add it with: ssh exe.dev ssh-key add '${key.publicKey}'`,
      diagnostics,
    );
  }
  return undefined;
}

function classify(error: unknown): { code: string; message: string } {
  const message = (error as Error).message ?? String(error);
  // Core recognises exe.dev's lobby answering an unregistered key ("Please complete registration").
  if (isSandboxError(error, "auth_failed") && error.details.reason === "unregistered_key") {
    return { code: "onboarding_required", message };
  }
  if (isSandboxError(error, "auth_failed")) {
    return { code: "auth_failed", message: `exe.dev refused the credentials: ${message}` };
  }
  return { code: isSandboxError(error) ? error.code : "probe_failed", message };
}

/**
 * Proves an environment works end to end: checks the account, creates a throwaway VM (or clone),
 * runs a command through the login shell, and deletes the VM again, whatever happened.
 */
export async function probe(
  context: HookContext,
  params: PluginEnvironmentProbeParams,
): Promise<PluginEnvironmentProbeResult> {
  const { config, errors, warnings } = checkConfig(params.config, context.host.env);
  const diagnostics: PluginEnvironmentDiagnostic[] = warnings.map((message) => ({
    severity: "warning",
    message,
  }));
  if (errors.length > 0) {
    return {
      ok: false,
      summary: `The exe.dev environment config is invalid: ${errors.join(" ")}`,
      diagnostics: [
        ...diagnostics,
        ...errors.map((message) => ({ severity: "error" as const, code: "invalid_config", message })),
      ],
    };
  }
  let client: ExeDevClient;
  try {
    client = exeDevClient(config, context.host);
  } catch (error) {
    return failure("invalid_config", (error as Error).message, diagnostics);
  }
  const accountProblem = await checkAccount(client, diagnostics);
  if (accountProblem) return accountProblem;

  const started = Date.now();
  const name = generateVmName(config.namePrefix);
  try {
    const sandbox = await createVmSandbox(client, name, config.templateVm);
    try {
      const probeCommand = loginShellCommand({ command: "echo", args: [PROBE_MARKER] });
      const result = await sandbox.exec(probeCommand.command, {
        ...probeCommand.options,
        timeoutMs: Math.min(config.timeoutMs, 60_000),
      });
      if (result.exitCode !== 0 || !result.stdout.includes(PROBE_MARKER)) {
        return failure(
          "command_failed",
          `The probe VM ${name} was created, but a command in its login shell failed (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 300)}`,
          diagnostics,
        );
      }
    } finally {
      await sandbox.dispose();
    }
  } catch (error) {
    const { code, message } = classify(error);
    return failure(code, `exe.dev probe failed: ${message}`, diagnostics);
  }
  return {
    ok: true,
    summary: `Created exe.dev VM ${name}${config.templateVm ? ` from ${config.templateVm}` : ""}, ran a command in its login shell, and deleted it (${Date.now() - started} ms).`,
    diagnostics,
    metadata: { provider: "exe-dev", vmName: name, durationMs: Date.now() - started },
  };
}
