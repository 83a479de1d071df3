import { PassThrough } from "node:stream";
import { runWorker } from "@paperclipai/plugin-sdk";
import { describe, expect, it } from "vitest";
import manifest, { DRIVER_KEY } from "./manifest.js";
import worker from "./worker.js";

/** Talks JSON-RPC to the worker over in-memory pipes, as Paperclip does over the child's stdio. */
function connect() {
  const toWorker = new PassThrough();
  const fromWorker = new PassThrough();
  runWorker(worker, import.meta.url, { stdin: toWorker, stdout: fromWorker });
  let buffered = "";
  const waiting = new Map<number, (message: { result?: unknown; error?: unknown }) => void>();
  fromWorker.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
      const message = JSON.parse(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
      waiting.get(message.id)?.(message);
    }
  });
  let nextId = 1;
  return (method: string, params: unknown) =>
    new Promise<{ result?: unknown; error?: unknown }>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      toWorker.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
    });
}

describe("the worker entry point", () => {
  it("answers Paperclip's RPCs and advertises every environment method, sync included", async () => {
    const call = connect();
    const initialized = await call("initialize", {
      manifest,
      config: {},
      instanceInfo: { instanceId: "instance-1", hostVersion: "1.0.0" },
      apiVersion: 1,
    });
    const { supportedMethods } = initialized.result as { supportedMethods: string[] };
    expect(supportedMethods.filter((method) => method.startsWith("environment")).sort()).toEqual([
      "environmentAcquireLease",
      "environmentCancelInteractiveSetup",
      "environmentCaptureTemplate",
      "environmentDeleteTemplate",
      "environmentDestroyLease",
      "environmentExecute",
      "environmentGetInteractiveSetup",
      "environmentProbe",
      "environmentRealizeWorkspace",
      "environmentReleaseLease",
      "environmentResumeLease",
      "environmentRunnerIngressEndpoint",
      "environmentStartInteractiveSetup",
      "environmentSyncIn",
      "environmentSyncOut",
      "environmentValidateConfig",
    ]);
    const validated = await call("environmentValidateConfig", {
      driverKey: DRIVER_KEY,
      config: { apiKey: "exe0.a.b", port: 0 },
    });
    expect(validated.result).toEqual({
      ok: false,
      errors: ["port: must be a whole number from 1 to 65535."],
      warnings: [],
    });
    expect((await call("shutdown", {})).error).toBeUndefined();
  });
});
