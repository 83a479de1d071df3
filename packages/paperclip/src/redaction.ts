import { createRedactor, type Redactor } from "@exedev-sandbox/core";
import type { ExeDevEnvironmentConfig } from "./config-schema.js";

/**
 * Every secret an environment config can carry but its private key, plus the host's API-key
 * fallback. Pass the raw config too when it may be invalid: its secret fields count even where
 * validation dropped them.
 */
export function secretsOf(config: Partial<ExeDevEnvironmentConfig>, env: NodeJS.ProcessEnv): string[] {
  const values = [
    config.apiKey,
    config.setupScript,
    config.prompt,
    env.EXE_API_KEY,
    env.EXE_API_TOKEN,
    ...Object.values(config.env ?? {}),
  ];
  return values.filter((value): value is string => typeof value === "string");
}

/**
 * Core's redactor for the secrets of these configs (the validated one and the raw one). A
 * private key is hidden whole, line by line and encoded, but not by fragments: an OpenSSH
 * private key holds its public key, which a message must be able to show (e.g. the
 * `ssh-key add` line the probe suggests).
 */
export function redactorFor(configs: Partial<ExeDevEnvironmentConfig>[], env: NodeJS.ProcessEnv): Redactor {
  const keys = configs.map((config) => config.privateKey).filter((key) => typeof key === "string");
  return createRedactor(
    configs.flatMap((config, index) => secretsOf(config, index === 0 ? env : {})),
    keys,
  );
}
