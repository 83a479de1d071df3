// Port forwarding: one HTTP GET through `forwardPort` on a new TCP connection (what a browser
// opening a page does) and on a kept-alive one, and a 16 MiB download, on loopback and through
// the 20 ms round-trip hop; OpenSSH's own `ssh -N -L` forward beside it.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, get } from "node:http";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { isRoot, startSshd, UNPRIVILEGED_TEST_USER } from "../../testing/src/sshd.ts";
import {
  connectTransport,
  sshArgs,
  startHop,
  storeResults,
  summarise,
  timeLoopbackAndHop,
} from "./bench-kit.mjs";

const DELAY_MS = 10;
const ROUND_TRIP_MS = 2 * DELAY_MS;
const quick = process.argv.includes("--quick");
const SAMPLES = quick ? 20 : 100;
const WARMUP = 5;
const BIG_BYTES = 16 * 1024 * 1024;
const log = (line) => process.stdout.write(`${line}\n`);

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** GETs `url` with `agent`; resolves with the body's length once it is all read. */
function fetchLength(url, agent) {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (response) => {
      let length = 0;
      response.on("data", (chunk) => {
        length += chunk.length;
      });
      response.on("end", () => resolve(length));
      response.on("error", reject);
    }).on("error", reject);
  });
}

/** `ssh -N -L local:127.0.0.1:remote` through `target`; resolves once the local port accepts. */
async function startOpenSshForward(target, remotePort) {
  const localPort = await freePort();
  const child = spawn(
    "ssh",
    sshArgs(target, ["-N", "-o", "ExitOnForwardFailure=yes", "-L", `${localPort}:127.0.0.1:${remotePort}`]),
    { stdio: "ignore" },
  );
  let up = false;
  for (let i = 0; i < 200 && !up; i++) {
    up = await new Promise((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(true)); // taken: ssh listens
      probe.listen(localPort, "127.0.0.1", () => probe.close(() => resolve(false)));
    });
    if (!up) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (!up) throw new Error("ssh -L never listened");
  return { url: `http://127.0.0.1:${localPort}/`, close: () => child.kill() };
}

const username = isRoot() ? UNPRIVILEGED_TEST_USER : undefined;
const server = await startSshd({ username });
const hop = await startHop(server, DELAY_MS);
const scratch = mkdtempSync(join(tmpdir(), "exedev-forward-bench-"));
const keyPath = join(scratch, "key");
writeFileSync(keyPath, server.privateKey, { mode: 0o600 });
const sshTarget = (path) => ({
  ...endpoints[path],
  username: server.username,
  keyPath,
  knownHostsPath: join(scratch, "known_hosts"),
});
const endpoints = {
  loopback: { host: server.host, port: server.port },
  hop: { host: hop.host, port: hop.port },
};
log(
  `exedev-sandbox port forwarding — one loopback OpenSSH, a ${ROUND_TRIP_MS} ms round-trip hop, ${cpus().length} CPUs, Node ${process.version}${quick ? " (quick)" : ""}`,
);

const results = {};
const sandboxes = {};
const forwards = { forwardPort: {}, "ssh -L": {} };
let web;
try {
  for (const path of Object.keys(endpoints)) {
    const connected = await connectTransport({ ...server.connectOptions(), ...endpoints[path] }, "channels");
    sandboxes[path] = connected.sandbox;
  }
  const sandbox = sandboxes.loopback;
  const dir = `${sandbox.homeDir}/forward-bench`;
  await sandbox.mkdir(dir, { recursive: true });
  await sandbox.writeFile(`${dir}/small.txt`, "x".repeat(1024));
  await sandbox.exec(`head -c ${BIG_BYTES} /dev/zero > big.bin`, { cwd: dir });
  const webPort = await freePort();
  // Node's server keeps connections alive (python's http.server speaks HTTP/1.0 and closes each).
  const serve = `const fs=require("fs");require("http").createServer((q,r)=>fs.createReadStream("."+q.url).on("error",()=>{r.statusCode=404;r.end()}).pipe(r)).listen(${webPort},"127.0.0.1")`;
  web = await sandbox.spawn(
    `exec ${existsSync("/usr/bin/node") ? "/usr/bin/node" : process.execPath} -e '${serve}'`,
    { cwd: dir },
  );
  await sandbox.waitForPort(webPort, { timeoutMs: 15_000 });
  for (const path of Object.keys(endpoints)) {
    forwards.forwardPort[path] = await sandboxes[path].forwardPort(webPort);
    forwards["ssh -L"][path] = await startOpenSshForward(sshTarget(path), webPort);
  }

  for (const [how, byPath] of Object.entries(forwards)) {
    const keptAlive = {
      loopback: new Agent({ keepAlive: true, maxSockets: 1 }),
      hop: new Agent({ keepAlive: true, maxSockets: 1 }),
    };
    results[how] = {
      "GET 1 KiB, new connection": await timeLoopbackAndHop(
        { samples: SAMPLES, warmup: WARMUP, roundTripMs: ROUND_TRIP_MS },
        async (path) => {
          const started = performance.now();
          await fetchLength(`${byPath[path].url}small.txt`, false);
          return performance.now() - started;
        },
      ),
      "GET 1 KiB, kept-alive connection": await timeLoopbackAndHop(
        { samples: SAMPLES, warmup: WARMUP, roundTripMs: ROUND_TRIP_MS },
        async (path) => {
          const started = performance.now();
          await fetchLength(`${byPath[path].url}small.txt`, keptAlive[path]);
          return performance.now() - started;
        },
      ),
    };
    for (const agent of Object.values(keptAlive)) agent.destroy();
    const mbps = {};
    for (const path of Object.keys(endpoints)) {
      const times = [];
      for (let i = 0; i < (quick ? 2 : 4); i++) {
        const started = performance.now();
        const length = await fetchLength(`${byPath[path].url}big.bin`, false);
        if (length !== BIG_BYTES) throw new Error(`short download: ${length}`);
        times.push(performance.now() - started);
      }
      mbps[path] = BIG_BYTES / 1e6 / (summarise(times).p50 / 1000);
    }
    results[how].downloadMBps = mbps;
  }
} finally {
  for (const byPath of Object.values(forwards))
    for (const forward of Object.values(byPath)) await forward.close();
  await web?.kill().catch(() => {});
  for (const sandbox of Object.values(sandboxes)) await sandbox.close();
  await hop.stop();
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
}

const ms = (value) => value.toFixed(2);
log("");
log("| forward | request | loopback p50 / p95 (ms) | 20 ms hop p50 / p95 (ms) | round trips |");
log("| --- | --- | --- | --- | --- |");
for (const [how, rows] of Object.entries(results)) {
  for (const [what, row] of Object.entries(rows)) {
    if (what === "downloadMBps") continue;
    log(
      `| ${how} | ${what} | ${ms(row.loopback.p50)} / ${ms(row.loopback.p95)} | ${ms(row.hop.p50)} / ${ms(row.hop.p95)} | ${row.roundTrips.toFixed(2)} |`,
    );
  }
}
log("");
log("| forward | 16 MiB download, loopback (MB/s) | through the hop (MB/s) |");
log("| --- | --- | --- |");
for (const [how, rows] of Object.entries(results)) {
  log(`| ${how} | ${rows.downloadMBps.loopback.toFixed(0)} | ${rows.downloadMBps.hop.toFixed(0)} |`);
}
const resultsPath = storeResults({
  portForwarding: { delayMs: DELAY_MS, roundTripMs: ROUND_TRIP_MS, samples: SAMPLES, results },
});
log(`\nwrote portForwarding into ${resultsPath}`);
