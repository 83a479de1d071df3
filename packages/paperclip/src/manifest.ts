import type { PaperclipPluginManifestV1 } from "@paperclipai/plugin-sdk";
import packageJson from "../package.json" with { type: "json" };
import { configSchema } from "./config-schema.js";

/** The driver key environments use to pick this provider. */
export const DRIVER_KEY = "exe-dev";

/**
 * The plugin's Paperclip manifest: one `sandbox_provider` driver. Its capabilities are the ones
 * the worker implements and the tests exercise: reusable leases, native sync in and out, and
 * interactive setup with template capture and delete. Runner WebSocket ingress is implemented
 * but not declared, as it has not been tried against exe.dev's proxy.
 */
const manifest: PaperclipPluginManifestV1 = {
  id: "exedev-sandbox.paperclip",
  apiVersion: 1,
  version: packageJson.version,
  displayName: "exe.dev sandboxes",
  description:
    "Runs Paperclip agents in exe.dev VMs, over one persistent SSH connection per lease with keys kept in memory.",
  author: "exedev-sandbox",
  categories: ["workspace", "automation"],
  capabilities: ["environment.drivers.register"],
  entrypoints: { worker: "./dist/worker.js" },
  environmentDrivers: [
    {
      driverKey: DRIVER_KEY,
      kind: "sandbox_provider",
      displayName: "exe.dev VM",
      description:
        "Creates (or clones) an exe.dev VM per lease, runs commands in its login shell over SSH, and syncs files with tar and SFTP.",
      supportsReusableLeases: true,
      sandboxCapabilities: {
        reusableLeases: true,
        nativeSyncIn: true,
        nativeSyncOut: true,
      },
      supportsInteractiveSetup: true,
      interactiveSetupConnectionTypes: ["ssh"],
      supportsTemplateCapture: true,
      templateRefKind: "provider_template",
      templateConfigBinding: { field: "templateVm" },
      templateIdentityPaths: ["apiUrl"],
      supportsTemplateDelete: true,
      configSchema,
    },
  ],
};

export default manifest;
