import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { isRoot, startSshd, UNPRIVILEGED_TEST_USER } from "../../testing/src/sshd.ts";
import { connectTransport, startHop, storeResults, TRANSPORTS, timeLoopbackAndHop } from "./bench-kit.mjs";

const DELAY_MS = 10;
const ROUND_TRIP_MS = 2 * DELAY_MS;
const PATHS = ["loopback", "hop"];
const quick = process.argv.includes("--quick");
const SAMPLES = quick ? 15 : 60;
const WARMUP = 3;
const log = (line) => process.stdout.write(`${line}\n`);

/** The first chunk of an async iterable of text. */
async function firstChunk(iterable) {
  for await (const chunk of iterable) return chunk;
  return undefined;
}

/** Per sandbox: what is measured, each a function timing one sample. */
async function operations(sandbox) {
  const shell = await sandbox.openShell();
  await shell.run("cd /tmp");
  const cat = await sandbox.spawn("cat");
  const echoes = cat.stdout[Symbol.asyncIterator]();
  return {
    "spawn → first output": async () => {
      const started = performance.now();
      const child = await sandbox.spawn("echo ready; exec sleep 30");
      const first = await firstChunk(child.stdout);
      const ms = performance.now() - started;
      if (!first?.startsWith("ready")) throw new Error(`unexpected first output ${JSON.stringify(first)}`);
      await child.kill();
      await child.wait();
      return ms;
    },
    "write → echo (spawned cat)": async () => {
      const started = performance.now();
      await cat.write("x\n");
      let seen = "";
      while (!seen.includes("x\n")) {
        const next = await echoes.next();
        if (next.done) throw new Error("cat ended");
        seen += next.value;
      }
      return performance.now() - started;
    },
    "shell run (pwd)": async () => {
      const started = performance.now();
      const result = await shell.run("pwd");
      if (result.stdout !== "/tmp\n") throw new Error(`unexpected ${JSON.stringify(result.stdout)}`);
      return performance.now() - started;
    },
    close: async () => {
      await cat.kill();
      await shell.close();
    },
  };
}

const username = isRoot() ? UNPRIVILEGED_TEST_USER : undefined;
const server = await startSshd({ username });
const hop = await startHop(server, DELAY_MS);
const endpoints = {
  loopback: { host: server.host, port: server.port },
  hop: { host: hop.host, port: hop.port },
};
const results = {};
log(
  `exedev-sandbox processes — one loopback OpenSSH, a ${ROUND_TRIP_MS} ms round-trip hop, ${
    cpus().length
  } CPUs, Node ${process.version}${quick ? " (quick)" : ""}`,
);
try {
  for (const transport of TRANSPORTS) {
    const sandboxes = {};
    const ops = {};
    try {
      for (const path of PATHS) {
        const connected = await connectTransport(
          { ...server.connectOptions(), ...endpoints[path] },
          transport,
        );
        if (connected.unavailable) throw new Error(connected.unavailable);
        sandboxes[path] = connected.sandbox;
        ops[path] = await operations(connected.sandbox);
      }
      results[transport] = {};
      for (const name of Object.keys(ops.loopback).filter((key) => key !== "close")) {
        results[transport][name] = await timeLoopbackAndHop(
          { samples: SAMPLES, warmup: WARMUP, roundTripMs: ROUND_TRIP_MS },
          (path) => ops[path][name](),
        );
      }
    } finally {
      for (const op of Object.values(ops)) await op.close();
      for (const sandbox of Object.values(sandboxes)) await sandbox.close();
    }
  }
} finally {
  await hop.stop();
  await server.stop();
}

const ms = (value) => value.toFixed(2);
log("");
log("| operation | transport | loopback p50 / p95 (ms) | 20 ms hop p50 / p95 (ms) | round trips |");
log("| --- | --- | --- | --- | --- |");
for (const [transport, rows] of Object.entries(results)) {
  for (const [name, row] of Object.entries(rows)) {
    log(
      `| ${name} | ${transport} | ${ms(row.loopback.p50)} / ${ms(row.loopback.p95)} | ${ms(row.hop.p50)} / ${ms(row.hop.p95)} | ${row.roundTrips.toFixed(2)} |`,
    );
  }
}
const resultsPath = storeResults({
  processes: { delayMs: DELAY_MS, roundTripMs: ROUND_TRIP_MS, samples: SAMPLES, transports: results },
});
log(`\nwrote processes into ${resultsPath}`);
