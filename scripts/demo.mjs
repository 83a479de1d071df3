// `./pnpmw demo`: the whole library doing real work on one VM, with no account and no network.
// It starts the local exe.dev emulator, registers a fresh key, mints an exe0 token with core,
// creates a VM through the API, and drives it through every integration. With EXE_API_TOKEN
// set it runs the same against the real exe.dev.
import http from "node:http";
import { performance } from "node:perf_hooks";
import {
  createExeDevApi,
  createExeDevSandbox,
  generateSshKeyPair,
  mintToken,
} from "../packages/core/dist/index.js";

// `--emulator` keeps the demo local even with a token in the environment (./pnpmw test uses it).
const live =
  !process.argv.includes("--emulator") && Boolean(process.env.EXE_API_TOKEN || process.env.EXE_API_KEY);
const dim = (text) => (process.stdout.isTTY ? `\x1b[2m${text}\x1b[0m` : text);
let failures = 0;

async function step(label, fn) {
  const started = performance.now();
  try {
    const value = await fn();
    console.log(`  ✓ ${label} ${dim(`(${(performance.now() - started).toFixed(0)} ms)`)}`);
    return value;
  } catch (error) {
    failures++;
    console.log(`  ✗ ${label}: ${error?.message ?? error}`);
    return undefined;
  }
}
const show = (text) => console.log(dim(`      ${String(text).trim().split("\n").join("\n      ")}`));

console.log(
  live
    ? `exedev-sandbox demo against ${process.env.EXE_API_URL ? `the exe.dev API at ${process.env.EXE_API_URL}` : "the real exe.dev"} (EXE_API_TOKEN is set)`
    : "exedev-sandbox demo against the local exe.dev emulator",
);
let emulator;
let api;
let ssh = {};
// The Paperclip plugin reads its API token, key and host-key setting from its environment config;
// live, it falls back to EXE_API_KEY / EXE_API_TOKEN and the usual SSH keys, as in Paperclip.
let paperclipConfig = {};
if (live) {
  api = createExeDevApi();
} else {
  const { startEmulator } = await import("../packages/emulator/dist/index.js");
  emulator = await step("started the emulator (HTTP API + SSH gateway on loopback)", () => startEmulator());
  const key = generateSshKeyPair("exedev-demo");
  await step("registered a freshly generated Ed25519 key", () => emulator.registerKey(key.publicKey, "demo"));
  const token = await step(
    "minted an exe0 token with core's mintToken (cmds new, ls, rm, cp, whoami; 1 h expiry)",
    () =>
      mintToken({
        privateKey: key.privateKey,
        permissions: { exp: Math.floor(Date.now() / 1000) + 3600, cmds: ["new", "ls", "rm", "cp", "whoami"] },
      }),
  );
  show(`${token.slice(0, 48)}…`);
  api = createExeDevApi({ baseUrl: emulator.apiUrl, token });
  // The gateway's host key is pinned by the fingerprint the emulator reports.
  ssh = { privateKey: key.privateKey, hostKey: { sha256: emulator.hostKeyFingerprint } };
  paperclipConfig = {
    apiKey: token,
    apiUrl: emulator.apiUrl,
    privateKey: key.privateKey,
    hostKey: emulator.hostKeyFingerprint,
  };
}

const sandbox = await step("created a VM through the API and waited until it runs commands", () =>
  createExeDevSandbox({ create: { tags: ["demo"] }, api, ...ssh }),
);
if (!sandbox) {
  console.log(
    live
      ? "Could not create a VM: check EXE_API_TOKEN (needs cmds new, ls, rm) and your SSH key (EXE_SSH_KEY)."
      : "The emulator did not start a VM; run ./pnpmw test to see why.",
  );
  await emulator?.stop();
  process.exit(1);
}
show(
  `VM ${sandbox.vm.name} at ${sandbox.vm.sshUser ?? ""}@${sandbox.vm.sshHost}:${sandbox.vm.sshPort}, home ${sandbox.homeDir}`,
);
const work = `${sandbox.homeDir}/demo`;

try {
  // Vercel AI SDK: a real tool loop. By default the model is the SDK's own mock (no key needed);
  // with AI_GATEWAY_API_KEY set, a real model through the AI Gateway (EXEDEV_DEMO_MODEL picks it).
  const { createExeDevTools } = await import("../packages/vercel-ai-tools/dist/index.js");
  const { generateText, stepCountIs } = await import("ai");
  const realModel = process.env.AI_GATEWAY_API_KEY
    ? (process.env.EXEDEV_DEMO_MODEL ?? "openai/gpt-4o-mini")
    : undefined;
  const model = realModel ?? (await mockModel());
  const result = await step(
    `AI SDK: generateText tool loop with ${realModel ? `${realModel} (AI Gateway)` : "the mock model (writeFile → bash)"}`,
    () =>
      generateText({
        model,
        tools: createExeDevTools(sandbox, { cwd: work }),
        prompt:
          "Write a POSIX sh script primes.sh that prints the primes below 30 on one line, run it with `sh primes.sh`, and say what it printed.",
        stopWhen: stepCountIs(6),
      }),
  );
  if (result) {
    for (const each of result.steps.flatMap((s) => s.toolResults)) {
      const text = String(each.output?.text ?? JSON.stringify(each.output));
      show(`${each.toolName} → ${text.replace(/\s*\n\s*/g, " | ").slice(0, 100)}`);
    }
    if (realModel) show(result.text);
  }

  // Background processes: a server started by one tool call, reached by the next, then stopped.
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const served = await step(
    `AI SDK: startProcess runs python3 -m http.server ${port} in the background, bash curls it, stopProcess ends it`,
    async () => {
      await sandbox.writeFile(`${work}/site/index.html`, "hello from a background server\n");
      const loop = await generateText({
        model: realModel ?? (await mockServerModel(port)),
        tools: createExeDevTools(sandbox, { cwd: work }),
        prompt: `In the directory site, start \`python3 -m http.server ${port} --bind 127.0.0.1\` in the background (wait for the port), fetch http://127.0.0.1:${port}/index.html with curl, read the server's log, then stop the server.`,
        stopWhen: stepCountIs(8),
      });
      const results = loop.steps.flatMap((s) => s.toolResults);
      const curl = results.find((r) => r.toolName === "bash")?.output;
      if (!curl?.stdout?.includes("hello from a background server"))
        throw new Error("curl did not reach the server");
      const stop = results.find((r) => r.toolName === "stopProcess")?.output;
      if (stop?.running !== false) throw new Error("the server was not stopped");
      return results;
    },
  );
  if (served) {
    for (const each of served) {
      const text = String(each.output?.text ?? JSON.stringify(each.output));
      show(`${each.toolName} → ${text.replace(/\s*\n\s*/g, " | ").slice(0, 110)}`);
    }
  }

  // Reaching it from here: the VM's port through exe.dev's proxy (the emulator's on loopback),
  // with a VM token minted locally; private ports answer 401 to anyone without one.
  await step(
    "proxy and forwardPort: a server on a VM port, reached with sandbox.fetch (VM token), refused without one, and on a local port over SSH",
    async () => {
      await sandbox.writeFile(`${work}/site/index.html`, "hello through the proxy\n");
      let server;
      let webPort;
      for (let attempt = 0; attempt < 5 && !server; attempt++) {
        webPort = 4000 + Math.floor(Math.random() * 5000);
        const started = await sandbox.spawn(`exec python3 -m http.server ${webPort} --bind 127.0.0.1`, {
          cwd: `${work}/site`,
          timeoutMs: 120_000,
        });
        try {
          await sandbox.waitForPort(webPort, { timeoutMs: 10_000 });
          server = started;
        } catch {
          await started.kill().catch(() => {});
        }
      }
      if (!server) throw new Error("no free port for the server");
      try {
        const response = await sandbox.fetch(webPort, "/index.html");
        const body = await response.text();
        if (response.status !== 200 || !body.includes("hello through the proxy"))
          throw new Error(`the proxy answered ${response.status}`);
        show(`${sandbox.url(webPort)}index.html → ${response.status} ${body.trim()}`);
        if (!live) {
          const url = new URL(sandbox.url(webPort));
          const anonymous = await new Promise((resolve, reject) => {
            const outgoing = http.request(
              {
                host: "127.0.0.1",
                port: url.port,
                path: "/index.html",
                headers: { host: url.host, accept: "*/*", authorization: "Bearer none" },
              },
              (res) => {
                res.resume();
                resolve(res.statusCode);
              },
            );
            outgoing.on("error", reject);
            outgoing.end();
          });
          if (anonymous !== 401)
            throw new Error(`without a VM token the proxy answered ${anonymous}, not 401`);
          show(`without a valid VM token → ${anonymous}`);
        }
        // The same server on a local port, carried over the SSH connection: what a local
        // browser or Playwright opens without making the VM's port public.
        const forward = await sandbox.forwardPort(webPort);
        try {
          const local = await fetch(`${forward.url}index.html`);
          const text = await local.text();
          if (local.status !== 200 || !text.includes("hello through the proxy"))
            throw new Error(`through forwardPort the server answered ${local.status}`);
          show(`forwardPort: ${forward.url}index.html → ${local.status} ${text.trim()}`);
        } finally {
          await forward.close();
        }
      } finally {
        await server.kill().catch(() => {});
      }
    },
  );

  // LangChain: the same tools as LangChain structured tools, through tool.invoke.
  const { createExeDevTools: createLangChainTools, createDeepAgentsBackend } = await import(
    "../packages/langchain-tools/dist/index.js"
  );
  const lc = createLangChainTools(sandbox, { cwd: work });
  const listed = await step("LangChain: list_files.invoke and bash.invoke", async () => {
    const files = await lc.find((t) => t.name === "list_files").invoke({ path: "." });
    const uname = await lc.find((t) => t.name === "bash").invoke({ command: "uname -sm" });
    return `${files}\n${uname}`;
  });
  if (listed) show(listed);
  const backend = createDeepAgentsBackend(sandbox);
  const grep = await step("deepagents backend: grep over the files it wrote", async () => {
    await backend.write(`${work}/notes.md`, "TODO: ship the demo\n");
    return backend.grep("TODO", work);
  });
  if (grep) show(JSON.stringify(grep.matches));

  // Flue: the driver through Flue's own sandboxFromDriver.
  const { createExeDevDriver } = await import("../packages/flue/dist/index.js");
  const { sandboxFromDriver } = await import("@flue/runtime");
  const flue = sandboxFromDriver(createExeDevDriver(sandbox), work);
  const flueRun = await step("Flue: sandboxFromDriver exec with a 500 ms timeout on a 30 s command", () =>
    flue.exec("sleep 30", { timeoutMs: 500 }),
  );
  if (flueRun) show(`exit ${flueRun.exitCode} (124 = timed out; the remote process was killed)`);

  // Paperclip: the plugin's own worker process, driven over JSON-RPC as the Paperclip server
  // drives it, running a command on this VM through the environmentExecute hook.
  const { DRIVER_KEY } = await import("../packages/paperclip/dist/index.js");
  const { startPaperclipWorker } = await import("./paperclip-worker.mjs");
  let streamed = 0;
  const worker = await step(
    "Paperclip: started the plugin worker (node dist/worker.js, JSON-RPC on stdio)",
    () => startPaperclipWorker({ onLog: () => streamed++ }),
  );
  if (worker) {
    try {
      const environment = {
        driverKey: DRIVER_KEY,
        companyId: "demo",
        environmentId: "demo",
        config: paperclipConfig,
      };
      // The lease Paperclip would hold for this VM: the plugin finds it by name through the API.
      const lease = { providerLeaseId: sandbox.vm.name, expiresAt: null, metadata: { remoteCwd: work } };
      const ran = await step("Paperclip: environmentExecute runs sh primes.sh in the login shell", () =>
        worker.call("environmentExecute", { ...environment, lease, command: "sh", args: ["primes.sh"] }),
      );
      if (ran)
        show(
          `exit ${ran.exitCode}, stdout ${ran.stdout.trim()} (${streamed} chunk(s) streamed to the run log)`,
        );
    } finally {
      await step("Paperclip: worker shut down and closed its connection", () => worker.stop());
    }
  }

  await step("removed the demo files", () => sandbox.rm(work, { recursive: true, force: true }));
} finally {
  await step(`deleted VM ${sandbox.vm.name} and closed the connection`, () => sandbox.dispose());
  if (emulator) await step("stopped the emulator", () => emulator.stop());
}
if (failures > 0) {
  console.log(`${failures} step(s) failed.`);
  process.exit(1);
}
console.log("done");

/**
 * The AI SDK's mock model, scripted to start a web server in the background, curl it, read its
 * log and stop it: it takes the process id from the startProcess result it was shown.
 */
async function mockServerModel(port) {
  const { MockLanguageModelV4 } = await import("ai/test");
  const usage = {
    inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
    outputTokens: { total: 1, text: 1, reasoning: 0 },
  };
  const call = (toolName, input) => ({
    content: [{ type: "tool-call", toolCallId: toolName, toolName, input: JSON.stringify(input) }],
    finishReason: { unified: "tool-calls", raw: undefined },
    usage,
    warnings: [],
  });
  let turn = 0;
  return new MockLanguageModelV4({
    doGenerate: async ({ prompt }) => {
      const seen = JSON.stringify(prompt);
      const id = /id: (\S+?) \(pid/.exec(seen)?.[1];
      switch (turn++) {
        case 0:
          return call("startProcess", {
            command: `exec python3 -m http.server ${port} --bind 127.0.0.1`,
            cwd: "site",
            waitForPort: port,
          });
        case 1:
          return call("bash", { command: `curl -sS http://127.0.0.1:${port}/index.html` });
        case 2:
          return call("processOutput", { id, waitMs: 5000, waitForText: "GET /index.html" });
        case 3:
          return call("stopProcess", { id });
        default:
          return {
            content: [{ type: "text", text: "The server answered and is stopped." }],
            finishReason: { unified: "stop", raw: undefined },
            usage,
            warnings: [],
          };
      }
    },
  });
}

/** The AI SDK's mock model, scripted to write primes.sh, run it, and answer. */
async function mockModel() {
  const { MockLanguageModelV4 } = await import("ai/test");
  const usage = {
    inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
    outputTokens: { total: 1, text: 1, reasoning: 0 },
  };
  const call = (id, toolName, input) => ({
    content: [{ type: "tool-call", toolCallId: id, toolName, input: JSON.stringify(input) }],
    finishReason: { unified: "tool-calls", raw: undefined },
    usage,
    warnings: [],
  });
  return new MockLanguageModelV4({
    doGenerate: [
      call("1", "writeFile", {
        path: "primes.sh",
        content:
          'for n in $(seq 2 30); do f=1; for d in $(seq 2 $((n-1))); do [ $((n%d)) -eq 0 ] && f=0; done; [ $f -eq 1 ] && printf "%s " $n; done; echo\n',
      }),
      call("2", "bash", { command: "sh primes.sh" }),
      {
        content: [{ type: "text", text: "The primes below 30 are listed above." }],
        finishReason: { unified: "stop", raw: undefined },
        usage,
        warnings: [],
      },
    ],
  });
}
