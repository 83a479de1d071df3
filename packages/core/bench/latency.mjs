// The latency leg: in one run against one loopback OpenSSH server, every operation both on
// loopback and through a 20 ms round trip (the testing kit's forwarder delaying each direction by
// 10 ms), for the sandbox on each transport, OpenSSH ControlMaster and one `ssh` per command.
// Round trips per operation = (median through the hop − median on loopback) / 20 ms, so CPU time
// on a loaded machine does not count as network. Loopback and hop samples alternate, so both see
// the same load. Then, on loopback, 64 MiB transfers against one raw channel's ceiling.
// Adds `latency` and `transferCeiling` to bench/results.json (after bench.mjs wrote it). Not a test.
//
//   node bench/latency.mjs [--quick]      (from packages/core, after `pnpm build`)
import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { isRoot, startSshd, UNPRIVILEGED_TEST_USER } from "../../testing/src/sshd.ts";
import { connectSandbox } from "../dist/index.js";
import {
  connectTransport,
  percentile,
  runSsh,
  scpArgs,
  sshArgs,
  startControlMaster,
  startHop,
  stopControlMaster,
  storeResults,
  summarise,
  TRANSPORTS,
} from "./bench-kit.mjs";
import { latencyTables, loopbackRatioLines, transferCeilingTable } from "./latency-tables.mjs";
import { connectRaw, rawDownload, rawUpload } from "./raw-channel.mjs";

const DELAY_MS = 10;
const ROUND_TRIP_MS = 2 * DELAY_MS;
const PATHS = ["loopback", "hop"];
const quick = process.argv.includes("--quick");
// 1,000 logins at once cost minutes of CPU per sample on 2 cores (measured once: 153 s on loopback,
// 246 s through the hop), so that one cell of the per-command column runs only when asked.
const ssh1000 = process.argv.includes("--ssh-1000") || process.env.BENCH_SSH_1000 === "1";
// Samples per path (loopback and hop each). Sized for stable medians on a 2-core machine: the
// sandbox's calls are cheap, `ssh` processes are not (each is a full login).
const SAMPLES = {
  sandbox: { single: 40, c20: 10, c1000: 3, connect: 10 },
  controlMaster: { single: 30, c20: 8, c1000: 1, connect: 8 },
  perCommand: { single: 12, c20: 4, c1000: 1, connect: 0 },
};
const TRANSFER_SAMPLES = quick ? 2 : 5;
const samples = (kind, what) =>
  quick ? Math.max(1, Math.ceil(SAMPLES[kind][what] / 4)) : SAMPLES[kind][what];

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), "exedev-latency-"));
const log = (line) => process.stdout.write(`${line}\n`);
const KIB = randomBytes(1024);
const range = (n) => Array.from({ length: n }, (_, i) => i);
const expect = (ok, what) => {
  if (!ok) throw new Error(`unexpected ${what}`);
};

/**
 * Times `operation(client)` `count` times per path, alternating loopback and hop, after `warmup`
 * untimed rounds. An operation resolves the number of its parts that failed (batches) or nothing;
 * a throw fails the whole sample. A failed single call is left out of the times; a batch's wall
 * time counts either way and its failures are reported beside it.
 */
async function measure(clients, operation, { count, warmup, batch = false }) {
  const out = Object.fromEntries(PATHS.map((path) => [path, { times: [], failed: 0, attempts: 0 }]));
  for (let i = -warmup; i < count; i++) {
    for (const path of PATHS) {
      const started = performance.now();
      let failed;
      try {
        failed = (await operation(clients[path])) ?? 0;
      } catch (error) {
        failed = batch ? batch : 1;
        out[path].error ??= String(error.message ?? error).slice(0, 200);
      }
      const elapsedMs = performance.now() - started;
      if (i < 0) continue;
      out[path].attempts += batch ? batch : 1;
      out[path].failed += failed;
      if (batch || failed === 0) out[path].times.push(elapsedMs);
    }
  }
  const result = {};
  for (const path of PATHS) {
    const { times, ...rest } = out[path];
    result[path] = { ...summarise(times), ...rest };
  }
  const { loopback, hop } = result;
  if (loopback.p50 !== undefined && hop.p50 !== undefined)
    result.roundTrips = (hop.p50 - loopback.p50) / ROUND_TRIP_MS;
  return result;
}

/** The same operations on a sandbox. */
function sandboxClient(sandbox, file) {
  return {
    exec: async () => expect((await sandbox.exec("echo hi")).stdout === "hi\n", "exec output"),
    stat: async () => expect((await sandbox.stat(file)).size === KIB.length, "stat size"),
    readFile: async () => expect(Buffer.from(await sandbox.readFileBuffer(file)).equals(KIB), "content"),
    writeFile: () => sandbox.writeFile(file, KIB),
    execMany: async (n) => {
      const settled = await Promise.allSettled(range(n).map((i) => sandbox.exec(`echo c${i}`)));
      return settled.filter((r, i) => r.status !== "fulfilled" || r.value.stdout !== `c${i}\n`).length;
    },
    close: () => sandbox.close(),
  };
}

/** The same operations as `ssh` processes (`extra`: the ControlMaster's socket, or none). */
function sshClient(target, extra, file) {
  const ssh = (command, input) => runSsh([...sshArgs(target, extra), command], input);
  const ok = (result, stdout) => result.code === 0 && (stdout === undefined || result.stdout.equals(stdout));
  return {
    exec: async () => expect(ok(await ssh("echo hi"), Buffer.from("hi\n")), "exec output"),
    stat: async () => expect(ok(await ssh(`stat -c %s ${file}`), Buffer.from("1024\n")), "stat size"),
    readFile: async () => expect(ok(await ssh(`cat ${file}`), KIB), "content"),
    writeFile: async () => expect(ok(await ssh(`cat > ${file}`, KIB)), "write exit code"),
    execMany: async (n) => {
      const results = await Promise.all(range(n).map((i) => ssh(`echo c${i}`)));
      return results.filter((r, i) => !ok(r, Buffer.from(`c${i}\n`))).length;
    },
    close: async () => {},
  };
}

async function measureOperations(kind, clients, { skip1000 } = {}) {
  const single = { count: samples(kind, "single"), warmup: 3 };
  const each = (name) => (client) => client[name]();
  const ops = {};
  ops.exec = await measure(clients, each("exec"), single);
  ops.stat = await measure(clients, each("stat"), single);
  ops.readFile1KiB = await measure(clients, each("readFile"), single);
  ops.writeFile1KiB = await measure(clients, each("writeFile"), single);
  ops.concurrent20 = await measure(clients, (client) => client.execMany(20), {
    count: samples(kind, "c20"),
    warmup: 1,
    batch: 20,
  });
  ops.concurrent1000 = skip1000
    ? { note: skip1000 }
    : await measure(clients, (client) => client.execMany(1000), {
        count: samples(kind, "c1000"),
        warmup: 0,
        batch: 1000,
      });
  return ops;
}

// measure() times the whole callback; connects need a split time, so they get their own loop.
async function connectSeries(kind, connectOnce) {
  const count = samples(kind, "connect");
  const times = Object.fromEntries(PATHS.map((path) => [path, { connect: [], first: [], failed: 0 }]));
  for (let i = -1; i < count; i++) {
    for (const path of PATHS) {
      try {
        const started = performance.now();
        const session = await connectOnce(path);
        const connectedMs = performance.now() - started;
        await session.exec();
        const firstMs = performance.now() - started;
        await session.close();
        if (i >= 0) {
          times[path].connect.push(connectedMs);
          times[path].first.push(firstMs);
        }
      } catch (error) {
        if (i >= 0) times[path].failed++;
        times[path].error ??= String(error.message ?? error).slice(0, 200);
      }
    }
  }
  const op = (key) => {
    const result = {};
    for (const path of PATHS) {
      result[path] = {
        ...summarise(times[path][key]),
        failed: times[path].failed,
        attempts: count,
        ...(times[path].error ? { error: times[path].error } : {}),
      };
    }
    if (result.loopback.p50 !== undefined && result.hop.p50 !== undefined)
      result.roundTrips = (result.hop.p50 - result.loopback.p50) / ROUND_TRIP_MS;
    return result;
  };
  return { connect: op("connect"), connectFirstExec: op("first") };
}

const username = isRoot() ? UNPRIVILEGED_TEST_USER : undefined;
// MaxSessions stays at OpenSSH's 10 (what caps ControlMaster and the channel path). MaxStartups
// is raised so that 1,000 `ssh` processes at once are not refused as unauthenticated floods: the
// per-command baseline gets its best case.
const server = await startSshd({ username, extraConfig: ["MaxStartups 2000"] });
const hop = await startHop(server, DELAY_MS);
const keyPath = join(scratch, "key");
writeFileSync(keyPath, server.privateKey, { mode: 0o600 });
const knownHostsPath = join(scratch, "known_hosts");
const endpoints = {
  loopback: { host: server.host, port: server.port },
  hop: { host: hop.host, port: hop.port },
};
const connectOptions = (path) => ({ ...server.connectOptions(), ...endpoints[path] });
const sshTarget = (path) => ({ ...endpoints[path], username: server.username, keyPath, knownHostsPath });
const controlPath = (path, tag = "") => join(scratch, `cm-${path}${tag}.sock`);
const masters = new Set();

async function sandboxColumn(transport, home) {
  const label = `sandbox, transport "${transport}"`;
  const clients = {};
  for (const path of PATHS) {
    const { sandbox, unavailable } = await connectTransport(connectOptions(path), transport);
    if (unavailable) {
      for (const client of Object.values(clients)) await client.close();
      return { label, unavailable };
    }
    clients[path] = sandboxClient(sandbox, `${home}/bench-latency-${transport}.bin`);
  }
  try {
    await clients.loopback.writeFile();
    const ops = await measureOperations("sandbox", clients);
    Object.assign(
      ops,
      await connectSeries("sandbox", async (path) => {
        const sandbox = await connectSandbox({ ...connectOptions(path), transport });
        return { exec: () => sandboxClient(sandbox).exec(), close: () => sandbox.close() };
      }),
    );
    return { label, ops };
  } finally {
    for (const client of Object.values(clients)) await client.close();
  }
}

async function controlMasterColumn(home) {
  const file = `${home}/bench-latency-cm.bin`;
  const clients = {};
  try {
    for (const path of PATHS) {
      masters.add(path);
      await startControlMaster(sshTarget(path), controlPath(path));
      clients[path] = sshClient(sshTarget(path), ["-S", controlPath(path), "-o", "ControlMaster=no"], file);
    }
    await clients.loopback.writeFile();
    const ops = await measureOperations("controlMaster", clients);
    Object.assign(
      ops,
      await connectSeries("controlMaster", async (path) => {
        const socket = controlPath(path, "-connect");
        await startControlMaster(sshTarget(path), socket);
        return {
          exec: () => sshClient(sshTarget(path), ["-S", socket, "-o", "ControlMaster=no"], file).exec(),
          close: () => stopControlMaster(sshTarget(path), socket),
        };
      }),
    );
    return { label: "OpenSSH ControlMaster", ops };
  } finally {
    for (const path of masters) {
      await stopControlMaster(sshTarget(path), controlPath(path));
      await stopControlMaster(sshTarget(path), controlPath(path, "-connect"));
    }
    masters.clear();
  }
}

async function perCommandColumn(home) {
  const file = `${home}/bench-latency-ssh.bin`;
  const clients = Object.fromEntries(PATHS.map((path) => [path, sshClient(sshTarget(path), [], file)]));
  await clients.loopback.writeFile();
  const ops = await measureOperations("perCommand", clients, {
    skip1000: ssh1000 ? undefined : "not run (minutes of CPU here; `--ssh-1000` runs it)",
  });
  // Every command is a connect of its own: there is nothing to connect ahead of the first one.
  ops.connect = { note: "– (each command connects)" };
  ops.connectFirstExec = { ...ops.exec, sameAs: "exec" };
  return { label: "one `ssh` per command", ops };
}

async function transfers(home, agentAvailable, path) {
  const size = 64 * 1024 * 1024;
  const local = join(scratch, "64mib.bin");
  const data = randomBytes(size);
  writeFileSync(local, data);
  const digest = createHash("sha256").update(data).digest("hex");
  const remote = `${home}/bench-latency-64mib.bin`;
  const raw = await connectRaw(connectOptions(path));
  const sandboxes = {
    channels: await connectSandbox({ ...connectOptions(path), transport: "channels" }),
  };
  if (agentAvailable) {
    const { sandbox } = await connectTransport(connectOptions(path), "agent");
    if (sandbox) sandboxes.agent = sandbox;
  }
  const target = sshTarget(path);
  const scp = scpArgs(target);
  const scpRemote = `${target.username}@${target.host}:${remote}`;
  const legs = [
    ["raw channel, client → server (`cat > /dev/null`)", "up", () => rawUpload(raw, size)],
    ["raw channel, server → client (`head -c`)", "down", () => rawDownload(raw, size)],
  ];
  for (const [transport, sandbox] of Object.entries(sandboxes)) {
    legs.push([`uploadFile, ${transport}`, "up", () => sandbox.uploadFile(local, remote)]);
    legs.push([
      `downloadFile, ${transport}`,
      "down",
      () => sandbox.downloadFile(remote, `${local}.${transport}.down`),
    ]);
  }
  legs.push(["scp upload", "up", () => run("scp", [...scp, local, scpRemote])]);
  legs.push(["scp download", "down", () => run("scp", [...scp, scpRemote, `${local}.scp`])]);
  const speeds = legs.map(() => []);
  const failed = legs.map(() => 0);
  try {
    for (let i = 0; i < TRANSFER_SAMPLES; i++) {
      for (const [index, [, , transfer]] of legs.entries()) {
        // Flushed page cache first, so no transfer pays for the previous one's write-back.
        execFileSync("sync");
        const started = performance.now();
        try {
          await transfer();
          speeds[index].push(size / 1e6 / ((performance.now() - started) / 1000));
        } catch {
          failed[index]++;
        }
      }
    }
    // Every transport's download must be the uploaded bytes (the last upload wrote them).
    for (const transport of Object.keys(sandboxes)) {
      const path = `${local}.${transport}.down`;
      if (!existsSync(path)) continue;
      if (createHash("sha256").update(readFileSync(path)).digest("hex") !== digest)
        throw new Error(`64 MiB download (${transport}) does not match the upload`);
    }
    await sandboxes.channels.rm(remote);
  } finally {
    raw.end();
    for (const sandbox of Object.values(sandboxes)) await sandbox.close();
  }
  const ceilings = { up: percentile(speeds[0], 50), down: percentile(speeds[1], 50) };
  const rows = legs.map(([label, direction], index) => {
    const mbps = percentile(speeds[index], 50);
    const note = failed[index] ? `${failed[index]} of ${TRANSFER_SAMPLES} failed` : undefined;
    if (mbps === undefined) return { label, direction, failed: failed[index], note };
    const ofCeilingPercent = ceilings[direction] ? (100 * mbps) / ceilings[direction] : undefined;
    return { label, direction, mbps, ofCeilingPercent, failed: failed[index], note };
  });
  if (!agentAvailable)
    rows.splice(4, 0, {
      label: "uploadFile / downloadFile, agent",
      note: "n/a (agent transport unavailable)",
    });
  return { sizeBytes: size, samples: TRANSFER_SAMPLES, rows };
}

log(
  `exedev-sandbox latency leg — one loopback OpenSSH, a ${ROUND_TRIP_MS} ms round-trip hop, ${
    (await import("node:os")).cpus().length
  } CPUs, Node ${process.version}${quick ? " (quick)" : ""}`,
);
try {
  const probe = await connectSandbox({ ...connectOptions("loopback"), transport: "channels" });
  const home = probe.homeDir;
  await probe.close();
  const columns = {};
  for (const transport of TRANSPORTS) {
    log(`measuring the sandbox, transport "${transport}"…`);
    columns[transport] = await sandboxColumn(transport, home);
  }
  log("measuring ControlMaster…");
  columns.controlMaster = await controlMasterColumn(home);
  log("measuring one ssh per command…");
  columns.perCommand = await perCommandColumn(home);

  const cmExec = columns.controlMaster.ops.exec.loopback.p50;
  const loopbackExecRatios = TRANSPORTS.map((transport) => {
    const column = columns[transport];
    if (column.unavailable) return { transport, note: column.unavailable };
    return { transport, ratio: cmExec / column.ops.exec.loopback.p50 };
  });
  const latency = {
    delayMs: DELAY_MS,
    roundTripMs: ROUND_TRIP_MS,
    login: server.username,
    maxSessions: 10,
    columns,
    loopbackExecRatios,
  };
  log("measuring 64 MiB transfers on loopback…");
  const transferCeiling = await transfers(home, !columns.agent.unavailable, "loopback");
  // Through the hop a transfer is bound by the window per round trip, not by CPU: the regime
  // users are in.
  log("measuring 64 MiB transfers through the hop…");
  const transferCeilingHop = { ...(await transfers(home, !columns.agent.unavailable, "hop")), via: "hop" };

  log("");
  for (const line of latencyTables(latency)) log(line);
  log("");
  for (const line of loopbackRatioLines(latency)) log(line);
  log("");
  for (const line of transferCeilingTable(transferCeiling)) log(line);
  log("");
  for (const line of transferCeilingTable(transferCeilingHop)) log(line);

  const resultsPath = storeResults({ latency, transferCeiling, transferCeilingHop });
  log(`\nwrote latency and transferCeiling into ${resultsPath}`);
} finally {
  for (const path of masters) await stopControlMaster(sshTarget(path), controlPath(path));
  await hop.stop();
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
}
