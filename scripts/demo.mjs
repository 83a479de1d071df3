// `./pnpmw demo`: the whole library doing real work on one VM, with no account and no network.
// It starts the local exe.dev emulator, registers a fresh key, mints an exe0 token with core,
// creates a VM through the API, and drives it through every integration. With EXE_API_TOKEN
// set it runs the same against the real exe.dev.
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
