// `./pnpmw demo`: the whole library doing real work on one VM, with no account and no network.
// It starts the local exe.dev emulator, registers a fresh key, mints an exe0 token with core,
// creates a VM through the API, and drives it through every integration. With EXE_API_TOKEN
// set it runs the same against the real exe.dev.
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import {
  createExeDevApi,
  createExeDevSandbox,
  generateSshKeyPair,
  mintToken,
} from "../packages/core/dist/index.js";

const live = Boolean(process.env.EXE_API_TOKEN || process.env.EXE_API_KEY);
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
    ? "exedev-sandbox demo against the real exe.dev (EXE_API_TOKEN is set)"
    : "exedev-sandbox demo against the local exe.dev emulator",
);
let emulator;
let api;
let ssh = {};
if (live) {
  api = createExeDevApi();
} else {
  const { startEmulator } = await import("../packages/emulator/dist/index.js");
  emulator = await step("started the emulator (HTTP API + SSH gateway on loopback)", () => startEmulator());
  const key = generateSshKeyPair("exedev-demo");
  await step("registered a freshly generated Ed25519 key", () => emulator.registerKey(key.publicKey, "demo"));
  const token = await step(
    "minted an exe0 token with core's mintToken (cmds new, ls, rm, cp; 1 h expiry)",
    () =>
      mintToken({
        privateKey: key.privateKey,
        permissions: { exp: Math.floor(Date.now() / 1000) + 3600, cmds: ["new", "ls", "rm", "cp", "whoami"] },
      }),
  );
  show(`${token.slice(0, 48)}…`);
  api = createExeDevApi({ baseUrl: emulator.apiUrl, token });
  ssh = {
    privateKey: key.privateKey,
    hostKey: "accept-new",
    knownHostsPath: `${emulator.dataDir}/known_hosts`,
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
  // Vercel AI SDK: a real tool loop, with the SDK's own mock model (no model API key needed).
  const { createExeDevTools } = await import("../packages/vercel-ai-tools/dist/index.js");
  const { generateText, stepCountIs } = await import("ai");
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
  const model = new MockLanguageModelV4({
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
  const result = await step("AI SDK: generateText tool loop (writeFile → bash) with the mock model", () =>
    generateText({
      model,
      tools: createExeDevTools(sandbox, { cwd: work }),
      prompt: "primes below 30",
      stopWhen: stepCountIs(5),
    }),
  );
  if (result) show(`bash → ${result.steps[1].toolResults[0].output.stdout}`);

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
  const grep = await step("deepagents backend: grep over SFTP-written files", async () => {
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

  // Paperclip: the plugin's execute hook, when the package is built.
  const paperclip = new URL("../packages/paperclip/dist/index.js", import.meta.url);
  if (existsSync(paperclip)) {
    const plugin = await import(paperclip.href);
    const execute = plugin.demoExecute ?? undefined;
    if (execute) await step("Paperclip: plugin execute", () => execute(sandbox));
    else console.log(dim("  · Paperclip: see packages/paperclip (its hooks are exercised by its own tests)"));
  } else {
    console.log(dim("  · Paperclip plugin not built yet; skipped"));
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
