// Root benchmark: core's table (run first by turbo), then a 20-step agent tool loop through each
// adapter against one loopback OpenSSH server, compared in the same run with one `ssh` process
// per step; then the same loop through a 20 ms round-trip hop (each adapter on a sandbox connected
// through it, per transport), next to the same legs on loopback. Prints the tables (with core's
// numbers) and writes bench/results.json. Not a test.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { connectTransport, startHop, TRANSPORTS } from "../packages/core/bench/bench-kit.mjs";
import { connectSandbox, toolSpecs } from "../packages/core/dist/index.js";
import { isRoot, startSshd, UNPRIVILEGED_TEST_USER } from "../packages/testing/src/sshd.ts";
import { sshPerCommandLeg } from "./ssh-per-command.mjs";
import { summaryTable } from "./summary-table.mjs";
import { steps } from "./tool-loop-steps.mjs";

const here = new URL(".", import.meta.url).pathname;
const ROUNDS = 5;
// Through the hop one round of the per-command leg takes seconds; 3 timed rounds keep the run short.
const HOP_ROUNDS = 3;
const HOP_DELAY_MS = 10;
const scratch = mkdtempSync(join(tmpdir(), "exedev-loop-"));
const log = (line) => process.stdout.write(`${line}\n`);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * One leg per `bench/legs/<package>.mjs`, plus core's tool specs with no framework. An adapter
 * that is not built is left out with a note, so the bench runs with whatever is there.
 */
async function adapterLegs(sandbox, cwd, server, { quiet = false } = {}) {
  const legs = [];
  const specs = new Map(toolSpecs.map((spec) => [spec.name, spec]));
  legs.push({
    name: "core tool specs (no framework)",
    runStep: ({ tool, input }) => specs.get(tool).run(sandbox, input, { cwd }),
  });
  const files = readdirSync(join(here, "legs")).filter((file) => file.endsWith(".mjs"));
  for (const file of files.sort()) {
    const legFile = join(here, "legs", file);
    const dist = join(here, "..", "packages", file.replace(/\.mjs$/, ""), "dist", "index.js");
    if (!existsSync(dist)) {
      if (!quiet) log(`(no ${file} leg: its package is not built)`);
      continue;
    }
    const { createLeg } = await import(legFile);
    legs.push({ file, ...(await createLeg({ sandbox, cwd, server })) });
  }
  return legs;
}

async function timeLeg(leg) {
  const times = [];
  for (let round = 0; round <= ROUNDS; round++) {
    const started = performance.now();
    for (const step of steps) await leg.runStep(step);
    if (round > 0) times.push(performance.now() - started); // round 0 warms up
  }
  return { name: leg.name, medianMs: median(times), perStepMs: median(times) / steps.length, rounds: ROUNDS };
}

/**
 * Every leg on loopback and through the hop, their rounds alternating so both see the same load,
 * once per transport. Paperclip's worker makes its own connection (transport "auto"), so it runs
 * in the first pass only, and so does the per-command leg, which has no transport.
 */
async function hopLoop(server, keyPath) {
  const hop = await startHop(server, HOP_DELAY_MS);
  const servers = { loopback: server, hop: { ...server, host: hop.host, port: hop.port } };
  const rows = [];
  const timePair = async (pair, transport) => {
    const times = { loopback: [], hop: [] };
    for (let round = 0; round <= HOP_ROUNDS; round++) {
      for (const path of ["loopback", "hop"]) {
        const started = performance.now();
        for (const step of steps) await pair[path].runStep(step);
        if (round > 0) times[path].push(performance.now() - started);
      }
    }
    rows.push({
      name: pair.hop.name,
      transport,
      loopbackMs: median(times.loopback),
      hopMs: median(times.hop),
    });
  };
  try {
    for (const [pass, transport] of TRANSPORTS.entries()) {
      const sandboxes = {};
      for (const path of ["loopback", "hop"]) {
        const options = { ...server.connectOptions(), host: servers[path].host, port: servers[path].port };
        const { sandbox, unavailable } = await connectTransport(options, transport);
        if (unavailable) {
          rows.push({ name: "every adapter", transport, unavailable });
          break;
        }
        sandboxes[path] = sandbox;
      }
      if (sandboxes.hop) {
        const cwd = `${sandboxes.loopback.homeDir}/loop-hop`;
        await sandboxes.loopback.mkdir(cwd, { recursive: true });
        const legs = {};
        for (const path of ["loopback", "hop"]) {
          const all = await adapterLegs(sandboxes[path], cwd, servers[path], { quiet: true });
          // Paperclip makes its own connection (transport "auto"): it runs in the first pass
          // only, and the legs made for the others are closed at once (each holds a worker).
          const skipped = all.filter((leg) => pass > 0 && leg.file === "paperclip.mjs");
          for (const leg of skipped) await leg.close?.();
          legs[path] = all.filter((leg) => !skipped.includes(leg));
        }
        for (const [index, leg] of legs.hop.entries()) {
          await timePair(
            { loopback: legs.loopback[index], hop: leg },
            leg.file === "paperclip.mjs" ? "auto (its own connection)" : transport,
          );
        }
        for (const leg of [...legs.loopback, ...legs.hop]) await leg.close?.();
        if (pass === 0) {
          const perCommand = (path) =>
            sshPerCommandLeg({
              ...servers[path],
              keyPath,
              knownHostsPath: join(scratch, "known_hosts"),
              cwd,
            });
          await timePair({ loopback: perCommand("loopback"), hop: perCommand("hop") }, "–");
        }
        await sandboxes.loopback.rm(cwd, { recursive: true, force: true });
      }
      for (const sandbox of Object.values(sandboxes)) await sandbox.close();
    }
  } finally {
    await hop.stop();
  }
  return {
    steps: steps.length,
    rounds: HOP_ROUNDS,
    delayMs: HOP_DELAY_MS,
    roundTripMs: 2 * HOP_DELAY_MS,
    legs: rows,
  };
}

const server = await startSshd({ username: isRoot() ? UNPRIVILEGED_TEST_USER : undefined });
try {
  const keyPath = join(scratch, "key");
  writeFileSync(keyPath, server.privateKey, { mode: 0o600 });
  const sandbox = await connectSandbox(server.connectOptions());
  const cwd = `${sandbox.homeDir}/loop`;
  await sandbox.mkdir(cwd, { recursive: true });
  const legs = [
    ...(await adapterLegs(sandbox, cwd, server)),
    sshPerCommandLeg({ ...server, keyPath, knownHostsPath: join(scratch, "known_hosts"), cwd }),
  ];
  const rows = [];
  for (const leg of legs) {
    rows.push(await timeLeg(leg));
    await leg.close?.();
  }
  await sandbox.rm(cwd, { recursive: true, force: true });
  await sandbox.close();
  log(`tool loop through a ${2 * HOP_DELAY_MS} ms round trip…`);
  const toolLoopHop = await hopLoop(server, keyPath);

  const coreResults = join(here, "..", "packages", "core", "bench", "results.json");
  const results = {
    toolLoop: { steps: steps.length, rounds: ROUNDS, legs: rows },
    toolLoopHop,
    core: existsSync(coreResults) ? JSON.parse(readFileSync(coreResults, "utf8")) : undefined,
  };
  log(`\nexedev-sandbox vs today's ways, loopback OpenSSH (tool loop: median of ${ROUNDS} rounds)`);
  for (const line of summaryTable(results.core, results.toolLoop, results.toolLoopHop)) log(line);
  writeFileSync(join(here, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  log(`\nwrote ${join(here, "results.json")}`);
} finally {
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
}
