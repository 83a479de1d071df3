import { access, constants } from "node:fs/promises";
import { isSandboxError, publicKeyOf } from "@exedev-sandbox/core";
import type {
  PluginEnvironmentValidateConfigParams,
  PluginEnvironmentValidationResult,
} from "@paperclipai/plugin-sdk";
import { checkConfig } from "./config.js";
import type { ExeDevEnvironmentConfig } from "./config-schema.js";
import type { HookContext } from "./hook-context.js";
import { isSecretRef } from "./secret-ref.js";

/** Problems only visible by reading the key: encrypted, truncated, or not a key at all. */
async function keyProblems(config: ExeDevEnvironmentConfig): Promise<string[]> {
  const problems: string[] = [];
  if (typeof config.privateKey === "string" && !isSecretRef(config.privateKey)) {
    try {
      // Parses the key fully, in memory, with core's messages.
      publicKeyOf(config.privateKey);
    } catch (error) {
      problems.push(`privateKey: ${isSandboxError(error) ? error.message : "could not be read."}`);
    }
  }
  if (config.identityFile !== undefined) {
    await access(config.identityFile, constants.R_OK).catch(() =>
      problems.push(`identityFile: ${config.identityFile} cannot be read by the Paperclip server.`),
    );
  }
  return problems;
}

/** The config as Paperclip should store it: defaults filled in, unset fields left out. */
function normalized(raw: Record<string, unknown>, config: ExeDevEnvironmentConfig): Record<string, unknown> {
  const result: Record<string, unknown> = { ...raw };
  for (const [field, value] of Object.entries(config)) {
    const empty =
      value === undefined ||
      (Array.isArray(value) && value.length === 0) ||
      (typeof value === "object" &&
        value !== null &&
        !Array.isArray(value) &&
        Object.keys(value).length === 0);
    if (empty) delete result[field];
    else result[field] = value;
  }
  return result;
}

/** Checks an environment's config without touching exe.dev; every bad field gets its own message. */
export async function validateConfig(
  context: HookContext,
  params: PluginEnvironmentValidateConfigParams,
): Promise<PluginEnvironmentValidationResult> {
  const { config, errors, warnings } = checkConfig(params.config, context.host.env);
  if (errors.length === 0) errors.push(...(await keyProblems(config)));
  if (errors.length > 0) return { ok: false, errors, warnings };
  return { ok: true, warnings, normalizedConfig: normalized(params.config, config) };
}
