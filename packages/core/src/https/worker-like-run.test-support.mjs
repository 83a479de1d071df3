// Loads the built https entry into a node:vm context that has only the Web globals a Worker
// has (no process, Buffer or require), and runs an exec and a file round trip through a fetch
// that hands `ssh <vm> <command>` to a local sh. Prints one JSON line with what it saw.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import vm from "node:vm";

const [entry] = process.argv.slice(2);

async function localExecFetch(_input, init) {
  const words = String(init?.body ?? "")
    .trim()
    .split(/\s+/);
  const child = spawn("sh", ["-c", words.slice(2).join(" ")], { stdio: ["ignore", "pipe", "pipe"] });
  const chunks = [];
  child.stdout.on("data", (chunk) => chunks.push(chunk));
  child.stderr.on("data", (chunk) => chunks.push(chunk));
  await new Promise((done) => child.on("close", done));
  return new Response(Buffer.concat(chunks), { status: 200 });
}

const context = vm.createContext({
  fetch: localExecFetch,
  crypto: globalThis.crypto,
  TextEncoder,
  TextDecoder,
  atob,
  btoa,
  setTimeout,
  clearTimeout,
  URL,
  // The redactor hides form-encoded secrets; Workers have URLSearchParams too.
  URLSearchParams,
  Response,
  Headers,
  AbortController,
  AbortSignal,
});
const modules = new Map();
function load(path) {
  let module = modules.get(path);
  if (!module) {
    module = new vm.SourceTextModule(readFileSync(path, "utf8"), { context, identifier: path });
    modules.set(path, module);
  }
  return module;
}
const root = load(entry);
await root.link((specifier, referrer) => {
  if (!specifier.startsWith(".")) throw new Error(`the https entry imports ${specifier}`);
  return load(resolve(dirname(referrer.identifier), specifier));
});
await root.evaluate();
context.createHttpsSandbox = root.namespace.createHttpsSandbox;
const report = await vm.runInContext(
  `(async () => {
    const globals = { process: typeof process, Buffer: typeof Buffer, require: typeof require };
    const sandbox = await createHttpsSandbox({ vm: "worker-vm", api: { token: "exe1.TESTTOKEN" } });
    const result = await sandbox.exec("echo hello; echo oops >&2; exit 42");
    const file = sandbox.homeDir + "/.exedev-worker-like-" + crypto.randomUUID();
    await sandbox.writeFile(file, "héllo ✓");
    const roundTrip = await sandbox.readFile(file);
    await sandbox.rm(file);
    await sandbox.close();
    return { globals, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, roundTrip };
  })()`,
  context,
);
console.log(JSON.stringify(report));
