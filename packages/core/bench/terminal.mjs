import { performance } from "node:perf_hooks";
import { isRoot, startSshd, UNPRIVILEGED_TEST_USER } from "../../testing/src/sshd.ts";
import { connectTransport, startHop, storeResults, TRANSPORTS, timeLoopbackAndHop } from "./bench-kit.mjs";

const DELAY_MS = 10;
const ROUND_TRIP_MS = 2 * DELAY_MS;
const PATHS = ["loopback", "hop"];
const quick = process.argv.includes("--quick");
const SAMPLES = quick ? 30 : 200;
const WARMUP = 10;
const log = (line) => process.stdout.write(`${line}\n`);

/** A terminal running raw `cat`, with a wait for the n-th echoed byte. */
async function echoTerminal(sandbox) {
  const terminal = await sandbox.openTerminal({ command: "stty raw -echo && echo ready && exec cat" });
  let text = "";
  let echoed = -1; // bytes after the "ready" line
  let wake;
  void (async () => {
    for await (const chunk of terminal.readable) {
      if (echoed < 0) {
        text += Buffer.from(chunk).toString("latin1");
        // Raw mode turns output processing off too: "\n" stays "\n".
        const ready = /ready\r?\n/.exec(text);
        if (ready) echoed = text.length - ready.index - ready[0].length;
      } else echoed += chunk.length;
      wake?.();
    }
  })();
  const until = (count) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no echo after 10 s (${echoed} of ${count})`)), 10_000);
      const check = () => {
        if (echoed < count) return;
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
      wake = check;
      check();
    });
  await until(0);
  let typed = 0;
  return {
    keystroke: async () => {
      typed++;
      await terminal.write(String.fromCharCode(97 + (typed % 26)));
      await until(typed);
    },
    close: () => terminal.close(),
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
  `exedev-sandbox terminal echo — one loopback OpenSSH, a ${ROUND_TRIP_MS} ms round-trip hop, ${
    (await import("node:os")).cpus().length
  } CPUs, Node ${process.version}${quick ? " (quick)" : ""}`,
);
try {
  for (const transport of TRANSPORTS) {
    const sandboxes = {};
    const terminals = {};
    try {
      for (const path of PATHS) {
        const connected = await connectTransport(
          { ...server.connectOptions(), ...endpoints[path] },
          transport,
        );
        if (connected.unavailable) throw new Error(connected.unavailable);
        sandboxes[path] = connected.sandbox;
        terminals[path] = await echoTerminal(connected.sandbox);
      }
      results[transport] = await timeLoopbackAndHop(
        { samples: SAMPLES, warmup: WARMUP, roundTripMs: ROUND_TRIP_MS },
        async (path) => {
          const started = performance.now();
          await terminals[path].keystroke();
          return performance.now() - started;
        },
      );
    } finally {
      for (const terminal of Object.values(terminals)) await terminal.close();
      for (const sandbox of Object.values(sandboxes)) await sandbox.close();
    }
  }
} finally {
  await hop.stop();
  await server.stop();
}

const ms = (value) => value.toFixed(2);
log("");
log("| keystroke → echo | loopback p50 / p95 (ms) | 20 ms hop p50 / p95 (ms) | round trips |");
log("| --- | --- | --- | --- |");
for (const [transport, row] of Object.entries(results)) {
  log(
    `| ${transport} | ${ms(row.loopback.p50)} / ${ms(row.loopback.p95)} | ${ms(row.hop.p50)} / ${ms(row.hop.p95)} | ${row.roundTrips.toFixed(2)} |`,
  );
}
const resultsPath = storeResults({
  terminalEcho: { delayMs: DELAY_MS, roundTripMs: ROUND_TRIP_MS, samples: SAMPLES, transports: results },
});
log(`\nwrote terminalEcho into ${resultsPath}`);
