// Runs the Paperclip plugin the way the Paperclip server does: `node dist/worker.js` as a child
// process, spoken to in JSON-RPC 2.0, one message per line over its stdin and stdout. The demo
// and the benchmark use it, so both go through the plugin's real entry point.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const paperclipDist = new URL("../packages/paperclip/dist/", import.meta.url);
const STOP_GRACE_MS = 3000;

/**
 * Starts the worker and sends `initialize`. `onLog({ stream, chunk })` receives the output the
 * worker streams while an `environmentExecute` call runs (Paperclip's `execute.log`).
 */
export async function startPaperclipWorker({ env = process.env, onLog } = {}) {
  const { default: manifest } = await import(new URL("manifest.js", paperclipDist).href);
  const child = spawn(process.execPath, [fileURLToPath(new URL("worker.js", paperclipDist))], {
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const waiting = new Map();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  void exited.then((code) => {
    const error = new Error(`The Paperclip worker exited (${code ?? "signal"}). ${stderr.trim()}`.trim());
    for (const { reject } of waiting.values()) reject(error);
    waiting.clear();
  });

  const send = (message) => child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`);
  let buffered = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    buffered += chunk;
    for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      if (line.trim() !== "") receive(JSON.parse(line));
    }
  });
  function receive(message) {
    if (message.method === undefined) {
      const pending = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.error) pending?.reject(new Error(message.error.message ?? "worker error"));
      else pending?.resolve(message.result);
    } else if (message.id !== undefined) {
      // A call from the worker to the host (state, secrets, …): this host offers none.
      send({ id: message.id, error: { code: -32601, message: `${message.method} is not offered here` } });
    } else if (message.method === "execute.log") {
      onLog?.(message.params);
    }
  }

  let nextId = 1;
  const call = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      send({ id, method, params });
    });

  await call("initialize", {
    manifest,
    config: {},
    instanceInfo: { instanceId: "exedev-sandbox-local", hostVersion: "local" },
    apiVersion: 1,
  });
  return {
    call,
    /** Asks the worker to shut down (it closes its SSH connections), then waits for it to exit. */
    async stop() {
      await call("shutdown", {}).catch(() => {});
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
