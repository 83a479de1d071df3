// Benchmarks of the SSH sandbox against the alternatives, on one loopback OpenSSH server in one
// run: an `ssh` process per command (what existing exe.dev plugins do), OpenSSH ControlMaster,
// and `scp`. Not a test: it prints a table, checks the targets and writes bench/results.json.
//
//   pnpm bench          (from packages/core, after `pnpm build`)
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { isRoot, startSshd, UNPRIVILEGED_TEST_USER } from "../../testing/src/sshd.ts";
import { connectSandbox } from "../dist/index.js";
import { sshArgs as sharedSshArgs } from "./bench-kit.mjs";

const run = promisify(execFile);
const here = new URL(".", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "exedev-bench-"));
const results = {
  machine: { node: process.version, cpus: (await import("node:os")).cpus().length },
  runs: {},
};

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const summarise = (values) => ({
  n: values.length,
  p50: percentile(values, 50),
  p95: percentile(values, 95),
});
const ms = (value) => value.toFixed(2);
const log = (line) => process.stdout.write(`${line}\n`);

async function timeSeries(count, warmup, fn) {
  for (let i = 0; i < warmup; i++) await fn(i);
  const times = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await fn(i);
    times.push(performance.now() - started);
  }
  return summarise(times);
}

function sshArgs(server, keyPath, knownHosts, extra = []) {
  return sharedSshArgs({ ...server, keyPath, knownHostsPath: knownHosts }, extra);
}

async function latency(server, label) {
  const keyPath = join(scratch, `${label}-key`);
  writeFileSync(keyPath, server.privateKey, { mode: 0o600 });
  const knownHosts = join(scratch, `${label}-known_hosts`);
  const sandbox = await connectSandbox(server.connectOptions());
  const check = (stdout) => {
    if (stdout !== "hi\n") throw new Error(`unexpected output ${JSON.stringify(stdout)}`);
  };

  const sandboxSeq = await timeSeries(300, 20, async () => check((await sandbox.exec("echo hi")).stdout));
  const perCommand = await timeSeries(30, 2, async () =>
    check((await run("ssh", [...sshArgs(server, keyPath, knownHosts), "echo hi"])).stdout),
  );

  const controlPath = join(scratch, `${label}-cm.sock`);
  const master = spawn("ssh", [...sshArgs(server, keyPath, knownHosts, ["-M", "-S", controlPath, "-N"])], {
    stdio: "ignore",
  });
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync("ssh", ["-S", controlPath, "-O", "check", "x"], { stdio: "ignore" });
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const controlMaster = await timeSeries(200, 10, async () =>
    check(
      (
        await run("ssh", [
          ...sshArgs(server, keyPath, knownHosts, ["-S", controlPath, "-o", "ControlMaster=no"]),
          "echo hi",
        ])
      ).stdout,
    ),
  );
  master.kill();

  // 100 commands at once on the one connection.
  const started = performance.now();
  const settled = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => sandbox.exec(`echo c${i}`)));
  const concurrentWallMs = performance.now() - started;
  const concurrentFailures = settled.filter(
    (r, i) => r.status !== "fulfilled" || r.value.stdout !== `c${i}\n`,
  ).length;
  return {
    sandbox,
    keyPath,
    knownHosts,
    sandboxSeq,
    perCommand,
    controlMaster,
    concurrentWallMs,
    concurrentFailures,
  };
}

async function transfers(server, sandbox, keyPath, knownHosts) {
  const size = 64 * 1024 * 1024;
  const local = join(scratch, "64mib.bin");
  const data = randomBytes(size);
  writeFileSync(local, data);
  const digest = createHash("sha256").update(data).digest("hex");
  const remote = `${sandbox.homeDir}/bench-64mib.bin`;
  const mbps = (seconds) => size / 1e6 / seconds;
  const median = (values) => percentile(values, 50);
  const upload = [];
  const download = [];
  const scpUp = [];
  const scpDown = [];
  const scpArgs = [
    "-q",
    "-o",
    "BatchMode=yes",
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-i",
    keyPath,
    "-P",
    String(server.port),
  ];
  const target = `${server.username}@${server.host}:${remote}`;
  // Each timed transfer starts with the page cache flushed, so none pays for the write-back of
  // the previous one's 64 MiB.
  const timed = async (into, fn) => {
    execFileSync("sync");
    const started = performance.now();
    await fn();
    into.push(mbps((performance.now() - started) / 1000));
  };
  for (let i = 0; i < 5; i++) {
    await timed(upload, () => sandbox.uploadFile(local, remote));
    await timed(download, () => sandbox.downloadFile(remote, `${local}.down`));
    await timed(scpUp, () => run("scp", [...scpArgs, local, target]));
    await timed(scpDown, () => run("scp", [...scpArgs, target, `${local}.scp`]));
  }
  const roundTrip = createHash("sha256")
    .update(readFileSync(`${local}.down`))
    .digest("hex");
  if (roundTrip !== digest) throw new Error("64 MiB round trip does not match");
  await sandbox.rm(remote);

  const small = `${sandbox.homeDir}/bench-small.txt`;
  const kib = randomBytes(1024);
  await sandbox.writeFile(small, kib);
  const stat = await timeSeries(300, 20, () => sandbox.stat(small));
  const write = await timeSeries(300, 20, () => sandbox.writeFile(small, kib));
  const read = await timeSeries(300, 20, () => sandbox.readFileBuffer(small));
  await sandbox.rm(small);
  return {
    uploadMBps: median(upload),
    downloadMBps: median(download),
    scpUploadMBps: median(scpUp),
    scpDownloadMBps: median(scpDown),
    stat,
    writeFile1KiB: write,
    readFile1KiB: read,
  };
}

function memory(server) {
  // A separate process, so its peak RSS reflects only the 1 GiB transfers.
  const options = JSON.stringify(server.connectOptions());
  const output = execFileSync(process.execPath, [join(here, "memory.mjs"), options], { encoding: "utf8" });
  return JSON.parse(output.trim().split("\n").at(-1));
}

const username = isRoot() ? UNPRIVILEGED_TEST_USER : undefined;
log(
  `exedev-sandbox core benchmark — loopback OpenSSH, ${results.machine.cpus} CPUs, Node ${process.version}`,
);
log(`login: ${username ?? "current user"} (clean shell start-up)`);
const server = await startSshd({ username });
try {
  const l = await latency(server, "clean");
  const t = await transfers(server, l.sandbox, l.keyPath, l.knownHosts);
  const mem = memory(server);
  await l.sandbox.close();
  results.runs.clean = {
    ...l,
    sandbox: undefined,
    keyPath: undefined,
    knownHosts: undefined,
    ...t,
    memory: mem,
  };

  let asIs;
  if (isRoot()) {
    // Root's own .bashrc on these machines runs `pyenv init` for every command; no transport removes it.
    const rootServer = await startSshd({ cleanShell: false });
    try {
      const sandbox = await connectSandbox(rootServer.connectOptions());
      asIs = { sandboxSeq: await timeSeries(50, 5, () => sandbox.exec("echo hi")) };
      await sandbox.close();
    } finally {
      await rootServer.stop();
    }
    results.runs.rootAsIs = asIs;
  }

  const r = results.runs.clean;
  const perCommandRatio = r.perCommand.p50 / r.sandboxSeq.p50;
  const controlMasterRatio = r.controlMaster.p50 / r.sandboxSeq.p50;
  const rows = [
    [
      "sequential `echo hi`, this sandbox",
      `${ms(r.sandboxSeq.p50)} ms`,
      `${ms(r.sandboxSeq.p95)} ms`,
      `n=${r.sandboxSeq.n}`,
    ],
    [
      "sequential `echo hi`, ssh per command",
      `${ms(r.perCommand.p50)} ms`,
      `${ms(r.perCommand.p95)} ms`,
      `n=${r.perCommand.n}`,
    ],
    [
      "sequential `echo hi`, ControlMaster",
      `${ms(r.controlMaster.p50)} ms`,
      `${ms(r.controlMaster.p95)} ms`,
      `n=${r.controlMaster.n}`,
    ],
    ["100 concurrent `echo`, wall", `${ms(r.concurrentWallMs)} ms`, "", `${r.concurrentFailures} failed`],
    [
      "upload 64 MiB (this / scp)",
      `${r.uploadMBps.toFixed(0)} MB/s`,
      `${r.scpUploadMBps.toFixed(0)} MB/s`,
      "median of 5",
    ],
    [
      "download 64 MiB (this / scp)",
      `${r.downloadMBps.toFixed(0)} MB/s`,
      `${r.scpDownloadMBps.toFixed(0)} MB/s`,
      "median of 5",
    ],
    ["stat", `${ms(r.stat.p50)} ms`, `${ms(r.stat.p95)} ms`, `n=${r.stat.n}`],
    [
      "writeFile 1 KiB",
      `${ms(r.writeFile1KiB.p50)} ms`,
      `${ms(r.writeFile1KiB.p95)} ms`,
      `n=${r.writeFile1KiB.n}`,
    ],
    [
      "readFile 1 KiB",
      `${ms(r.readFile1KiB.p50)} ms`,
      `${ms(r.readFile1KiB.p95)} ms`,
      `n=${r.readFile1KiB.n}`,
    ],
    [
      "1 GiB upload+download, peak RSS rise",
      `${mem.rssRiseMiB.toFixed(1)} MiB`,
      "",
      `${mem.seconds.toFixed(1)} s`,
    ],
  ];
  if (asIs)
    rows.push([
      "`echo hi`, root login as-is (pyenv .bashrc)",
      `${ms(asIs.sandboxSeq.p50)} ms`,
      `${ms(asIs.sandboxSeq.p95)} ms`,
      `n=${asIs.sandboxSeq.n}`,
    ]);
  log("");
  log("| measure | p50 / value | p95 / scp | notes |");
  log("| --- | --- | --- | --- |");
  for (const row of rows) log(`| ${row.join(" | ")} |`);
  const targets = [
    [`per command vs ssh-per-command >= 40x`, perCommandRatio, perCommandRatio >= 40],
    [`per command vs ControlMaster >= 2x`, controlMasterRatio, controlMasterRatio >= 2],
    [`upload vs scp >= 2x`, r.uploadMBps / r.scpUploadMBps, r.uploadMBps / r.scpUploadMBps >= 2],
    [`download vs scp >= 2x`, r.downloadMBps / r.scpDownloadMBps, r.downloadMBps / r.scpDownloadMBps >= 2],
    [`zero failures at 100 concurrent`, r.concurrentFailures, r.concurrentFailures === 0],
    [`1 GiB transfer RSS rise < 64 MiB`, mem.rssRiseMiB, mem.rssRiseMiB < 64],
  ];
  log("");
  for (const [name, value, ok] of targets) log(`${ok ? "PASS" : "MISS"}  ${name}: ${value.toFixed(1)}`);
  results.targets = Object.fromEntries(targets.map(([name, value, ok]) => [name, { value, ok }]));
  writeFileSync(join(here, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  log(`\nwrote ${join(here, "results.json")}`);
} finally {
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
}
