import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createExeDevApi, type ExeDevApi, generateSshKeyPair } from "@exedev-sandbox/core";
import { type Emulator, startEmulator } from "@exedev-sandbox/emulator";
import type { PaperclipPlugin } from "@paperclipai/plugin-sdk";
import { createEnvironmentTestHarness, type EnvironmentTestHarness } from "@paperclipai/plugin-sdk/testing";
import manifest, { DRIVER_KEY } from "./manifest.js";
import { createExeDevPlugin } from "./plugin.js";

/** An emulator, a registered key, and a plugin wired to both; for tests only. */
export interface TestEmulator {
  emulator: Emulator;
  /** A direct API client, to check what the plugin left behind. */
  api: ExeDevApi;
  privateKey: string;
  /** Host scratch directory (known_hosts, sync sources and targets). */
  scratch: string;
  /** A valid environment config for the emulator. */
  config: Record<string, unknown>;
  plugin: PaperclipPlugin;
  /** Another plugin instance with the same options, as a second (or restarted) worker would be. */
  newPlugin(): PaperclipPlugin;
  stop(): Promise<void>;
}

/** Starts the emulator with a freshly registered key and a plugin whose known_hosts lives in scratch. */
export async function startTestEmulator(): Promise<TestEmulator> {
  const scratch = mkdtempSync(join(tmpdir(), "exedev-paperclip-test-"));
  const emulator = await startEmulator();
  const key = generateSshKeyPair("paperclip-test");
  emulator.registerKey(key.publicKey, "paperclip-test");
  const token = emulator.createToken();
  const config = { apiKey: token, apiUrl: emulator.apiUrl, privateKey: key.privateKey, namePrefix: "pclip" };
  // No API key in the environment, so every call must use the config's.
  const options = { knownHostsPath: join(scratch, "known_hosts"), env: { PATH: process.env.PATH } };
  const plugins = [createExeDevPlugin(options)];
  const plugin = plugins[0]!;
  return {
    emulator,
    api: createExeDevApi({ baseUrl: emulator.apiUrl, token }),
    privateKey: key.privateKey,
    scratch,
    config,
    plugin,
    newPlugin() {
      plugins.push(createExeDevPlugin(options));
      return plugins.at(-1)!;
    },
    async stop() {
      for (const each of plugins) await each.definition.onShutdown?.();
      await emulator.stop();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** The SDK's environment harness driving every hook the harness knows, after the plugin's setup ran. */
export async function harnessFor(plugin: PaperclipPlugin): Promise<EnvironmentTestHarness> {
  const hooks = plugin.definition;
  const harness = createEnvironmentTestHarness({
    manifest,
    environmentDriver: {
      driverKey: DRIVER_KEY,
      onValidateConfig: hooks.onEnvironmentValidateConfig,
      onProbe: hooks.onEnvironmentProbe,
      onAcquireLease: hooks.onEnvironmentAcquireLease,
      onResumeLease: hooks.onEnvironmentResumeLease,
      onReleaseLease: hooks.onEnvironmentReleaseLease,
      onDestroyLease: hooks.onEnvironmentDestroyLease,
      onRealizeWorkspace: hooks.onEnvironmentRealizeWorkspace,
      onExecute: hooks.onEnvironmentExecute,
      onStartInteractiveSetup: hooks.onEnvironmentStartInteractiveSetup,
      onGetInteractiveSetup: hooks.onEnvironmentGetInteractiveSetup,
      onCaptureTemplate: hooks.onEnvironmentCaptureTemplate,
      onCancelInteractiveSetup: hooks.onEnvironmentCancelInteractiveSetup,
      onDeleteTemplate: hooks.onEnvironmentDeleteTemplate,
    },
  });
  await hooks.setup(harness.ctx);
  return harness;
}
