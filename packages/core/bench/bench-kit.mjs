// Shared pieces of the latency benchmarks (packages/core/bench/latency.mjs and the root tool loop):
// medians, connecting with a chosen transport, `ssh` processes, and the 20 ms latency hop.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connectSandbox } from "../dist/index.js";

const here = new URL(".", import.meta.url).pathname;

/** The `p`th percentile (nearest rank) of `values`, or undefined for none. */
export function percentile(values, p) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** n, p50 and p95 of a series of times. */
export function summarise(values) {
  return { n: values.length, p50: percentile(values, 50), p95: percentile(values, 95) };
}

/** The transports a sandbox can be asked for (`ConnectOptions.transport`). */
export const TRANSPORTS = ["channels", "agent"];

/**
 * Connects with `transport` and checks that it is the one in use. A core without the option
 * ignores it and reports no `sandbox.transport`: that is the channel path, so "channels" is
 * available and "agent" is not. Resolves `{ sandbox }` or `{ unavailable }` (a note for the table).
 */
export async function connectTransport(options, transport) {
  let sandbox;
  try {
    sandbox = await connectSandbox({ ...options, transport });
  } catch (error) {
    if (transport === "channels") throw error;
    return { unavailable: `n/a (${transport} transport unavailable: ${error.code ?? error.message})` };
  }
  const inUse = sandbox.transport ?? "channels";
  if (inUse === transport) return { sandbox };
  await sandbox.close();
  return { unavailable: `n/a (${transport} transport unavailable)` };
}

/** The options ssh and scp share: key auth only, no prompts, a known_hosts file of the bench's. */
function clientOptions({ keyPath, knownHostsPath }) {
  return [
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=accept-new",
    "-o",
    `UserKnownHostsFile=${knownHostsPath}`,
    "-i",
    keyPath,
  ];
}

/** OpenSSH client arguments for `server` (host and port may be the hop's). */
export function sshArgs(target, extra = []) {
  return [
    "-T",
    ...clientOptions(target),
    "-p",
    String(target.port),
    ...extra,
    `${target.username}@${target.host}`,
  ];
}

/** scp arguments for `target` (its port given with scp's `-P`); the paths follow. */
export function scpArgs(target) {
  return ["-q", ...clientOptions(target), "-P", String(target.port)];
}

/**
 * Runs `ssh` with `args`, feeding `input` on stdin. Never rejects: a process that cannot start
 * (1,000 at once may hit a limit) resolves with code -1, so a bench counts it as a failure.
 */
export function runSsh(args, input) {
  return new Promise((resolve) => {
    const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
    const stdout = [];
    let stderr = "";
    child.stdout.on("data", (chunk) => stdout.push(chunk));
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.stdin.on("error", () => {});
    child.once("error", (error) => resolve({ code: -1, stdout: Buffer.alloc(0), stderr: error.message }));
    child.once("close", (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(stdout), stderr }));
    child.stdin.end(input ?? "");
  });
}

/**
 * Starts an OpenSSH ControlMaster on `controlPath` and resolves once its control socket accepts
 * clients: `-f` with `ControlPersist` backgrounds ssh only after the mux listener is up, so the
 * foreground process exiting is the moment the first command can run. Rejects when it fails.
 */
export function startControlMaster(target, controlPath) {
  return new Promise((resolve, reject) => {
    // stdio ignored: the backgrounded master keeps inherited pipes open until it exits.
    const child = spawn(
      "ssh",
      sshArgs(target, ["-M", "-S", controlPath, "-o", "ControlPersist=yes", "-f", "-N"]),
      { stdio: "ignore" },
    );
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`ssh -M exited ${code}`))));
  });
}

/** Ends the ControlMaster on `controlPath` (no-op when none runs). */
export async function stopControlMaster(target, controlPath) {
  await runSsh(sshArgs(target, ["-S", controlPath, "-O", "exit"]));
}

/**
 * The latency hop: the testing kit's forwarder delaying each direction by `delayMs`, in a process
 * of its own so the bench's own work (1,000 commands at once, spawning `ssh`) does not delay the
 * hop's timers. Resolves `{ host, port, stop() }`.
 */
export function startHop(target, delayMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(here, "hop-process.mjs"), target.host, String(target.port), String(delayMs)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let output = "";
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`latency hop exited ${code} before listening`)));
    child.stdout.on("data", (chunk) => {
      output += chunk;
      if (!output.includes("\n")) return;
      const { host, port } = JSON.parse(output);
      resolve({
        host,
        port,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once("exit", done);
            child.kill();
          }),
      });
    });
  });
}

/**
 * Times `sample(path)` `samples` times (after `warmup` untimed runs) on each path, alternating
 * loopback and hop so that both see the same load. Returns each path's n/p50/p95 and the round
 * trips the hop added: (hop p50 − loopback p50) / `roundTripMs`.
 */
export async function timeLoopbackAndHop({ samples, warmup, roundTripMs }, sample) {
  const times = { loopback: [], hop: [] };
  for (let i = -warmup; i < samples; i++) {
    for (const path of ["loopback", "hop"]) {
      const ms = await sample(path);
      if (i >= 0) times[path].push(ms);
    }
  }
  const loopback = summarise(times.loopback);
  const hop = summarise(times.hop);
  return { loopback, hop, roundTrips: (hop.p50 - loopback.p50) / roundTripMs };
}

/** Merges `entries` into bench/results.json (keeping what other benchmarks wrote); returns its path. */
export function storeResults(entries) {
  const resultsPath = join(here, "results.json");
  const stored = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, "utf8")) : {};
  writeFileSync(resultsPath, `${JSON.stringify({ ...stored, ...entries }, null, 2)}\n`);
  return resultsPath;
}
