// Root benchmark: core's table (run first by turbo), then a 20-step agent tool loop through each
// adapter against one loopback OpenSSH server, compared in the same run with one `ssh` process
// per step. Prints one table (with core's numbers) and writes bench/results.json. Not a test.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { connectSandbox, toolSpecs } from "../packages/core/dist/index.js";
import { isRoot, startSshd, UNPRIVILEGED_TEST_USER } from "../packages/testing/src/sshd.ts";
import { sshPerCommandLeg } from "./ssh-per-command.mjs";
import { summaryTable } from "./summary-table.mjs";
import { steps } from "./tool-loop-steps.mjs";

const here = new URL(".", import.meta.url).pathname;
const ROUNDS = 5;
const scratch = mkdtempSync(join(tmpdir(), "exedev-loop-"));
const log = (line) => process.stdout.write(`${line}\n`);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * One leg per `bench/legs/<package>.mjs`, plus core's tool specs with no framework. An adapter
 * that is not built is left out with a note, so the bench runs with whatever is there.
 */
async function adapterLegs(sandbox, cwd, server) {
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
      log(`(no ${file} leg: its package is not built)`);
      continue;
    }
    const { createLeg } = await import(legFile);
    legs.push(await createLeg({ sandbox, cwd, server }));
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

  const coreResults = join(here, "..", "packages", "core", "bench", "results.json");
  const results = {
    toolLoop: { steps: steps.length, rounds: ROUNDS, legs: rows },
    core: existsSync(coreResults) ? JSON.parse(readFileSync(coreResults, "utf8")) : undefined,
  };
  log(`\nexedev-sandbox vs today's ways, loopback OpenSSH (tool loop: median of ${ROUNDS} rounds)`);
  for (const line of summaryTable(results.core, results.toolLoop)) log(line);
  writeFileSync(join(here, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  log(`\nwrote ${join(here, "results.json")}`);
} finally {
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
}
