import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { configSchema } from "./config-schema.js";
import manifest, { DRIVER_KEY } from "./manifest.js";
import { createExeDevPlugin } from "./plugin.js";

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const packageJson = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));

/**
 * The SDK validates manifests with `pluginManifestV1Schema` from `@paperclipai/shared`, its own
 * dependency; it is not ours, so it is loaded from beside the SDK rather than imported by name.
 */
async function sdkManifestSchema(): Promise<{
  safeParse(value: unknown): { success: boolean; error?: unknown };
}> {
  const sdk = realpathSync(join(packageDir, "node_modules", "@paperclipai", "plugin-sdk"));
  const shared = await import(pathToFileURL(join(dirname(sdk), "shared", "dist", "index.js")).href);
  return shared.pluginManifestV1Schema;
}

describe("the manifest", () => {
  it("passes the SDK's own manifest validation", async () => {
    const result = (await sdkManifestSchema()).safeParse(manifest);
    expect(result.error).toBeUndefined();
    expect(result.success).toBe(true);
  });

  it("declares one sandbox provider with the capability Paperclip requires for it", () => {
    expect(manifest.capabilities).toEqual(["environment.drivers.register"]);
    expect(manifest.environmentDrivers).toHaveLength(1);
    expect(manifest.environmentDrivers?.[0]).toMatchObject({
      driverKey: DRIVER_KEY,
      kind: "sandbox_provider",
      sandboxCapabilities: { reusableLeases: true, nativeSyncIn: true, nativeSyncOut: true },
      supportsTemplateCapture: true,
      supportsTemplateDelete: true,
      supportsInteractiveSetup: true,
      templateConfigBinding: { field: "templateVm" },
    });
  });

  it("marks exactly the secret fields as secret references", () => {
    const properties = configSchema.properties as Record<string, { format?: string }>;
    const secret = Object.entries(properties)
      .filter(([, field]) => field.format === "secret-ref")
      .map(([name]) => name);
    expect(secret.sort()).toEqual(["apiKey", "privateKey"]);
  });

  it("generates a config schema that requires nothing and shows the defaults", () => {
    const properties = configSchema.properties as Record<string, { default?: unknown }>;
    expect(configSchema.required).toBeUndefined();
    expect(properties.namePrefix?.default).toBe("paperclip");
    expect(properties.timeoutMs?.default).toBe(300_000);
    expect(properties.hostKey?.default).toBe("accept-new");
  });

  it("backs every declared capability with a hook", () => {
    const hooks = createExeDevPlugin().definition;
    for (const name of [
      "onEnvironmentValidateConfig",
      "onEnvironmentProbe",
      "onEnvironmentAcquireLease",
      "onEnvironmentResumeLease",
      "onEnvironmentReleaseLease",
      "onEnvironmentDestroyLease",
      "onEnvironmentRealizeWorkspace",
      "onEnvironmentExecute",
      "onEnvironmentSyncIn",
      "onEnvironmentSyncOut",
      "onEnvironmentStartInteractiveSetup",
      "onEnvironmentGetInteractiveSetup",
      "onEnvironmentCaptureTemplate",
      "onEnvironmentCancelInteractiveSetup",
      "onEnvironmentDeleteTemplate",
      "onEnvironmentRunnerIngressEndpoint",
    ] as const) {
      expect(hooks[name], name).toBeTypeOf("function");
    }
  });

  it("matches the package: version, entry points, and the Node version the SDK requires", () => {
    const sdk = JSON.parse(
      readFileSync(join(packageDir, "node_modules", "@paperclipai", "plugin-sdk", "package.json"), "utf8"),
    );
    expect(manifest.version).toBe(packageJson.version);
    expect(packageJson.paperclipPlugin).toEqual({
      manifest: "./dist/manifest.js",
      worker: manifest.entrypoints.worker,
    });
    expect(packageJson.engines.node).toBe(sdk.engines.node);
  });
});
