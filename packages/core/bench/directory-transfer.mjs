// The directory-transfer leg: 5,000 small files up and down as one tar stream
// (uploadDirectory/downloadDirectory) against the old per-file way (one uploadFile or
// downloadFile per file), on loopback and through a 20 ms round trip (the testing kit's forwarder
// delaying each direction by 10 ms, in its own process). Round trips = (median through the hop −
// median on loopback) / 20 ms. Per-file transfers one by one would take minutes through the hop,
// so they run on a 500-file slice (scaled ×10 in the table, marked) and, all 5,000, 8 at a time.
// Prints a table; not a test. Options: --quick (one sample), --dirs-only, --delay-ms N.
//
//   node bench/directory-transfer.mjs [--quick]      (from packages/core, after `pnpm build`)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { startSshd } from "../../testing/src/sshd.ts";
import { connectTransport, percentile, startHop, TRANSPORTS } from "./bench-kit.mjs";

const FILES = 5_000;
const SLICE = 500;
// --delay-ms N: a longer hop makes the count robust when CPU noise (seconds on a loaded machine)
// would swamp 20 ms round trips; a window-bound transfer takes as many round trips at any delay.
const delayArg = process.argv.indexOf("--delay-ms");
const ROUND_TRIP_MS = 2 * (delayArg === -1 ? 10 : Number(process.argv[delayArg + 1]));
const SAMPLES = process.argv.includes("--quick") ? 1 : 3;
// The per-file cases take ~20 minutes through the hop; --dirs-only leaves them out.
const dirsOnly = process.argv.includes("--dirs-only");
const log = (line) => process.stdout.write(`${line}\n`);
const scratch = mkdtempSync(join(tmpdir(), "exedev-dir-bench-"));

/** 5,000 files of 50–450 bytes in 50 directories, like a small repository. */
function makeTree(root) {
  const names = [];
  for (let i = 0; i < FILES; i++) {
    const rel = join(`dir-${i % 50}`, `file-${i}.txt`);
    mkdirSync(join(root, `dir-${i % 50}`), { recursive: true });
    writeFileSync(join(root, rel), "x".repeat(50 + (i % 400)));
    names.push(rel);
  }
  return names;
}

async function inParallel(items, limit, work) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

async function timed(work) {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

const source = join(scratch, "tree");
const names = makeTree(source);
const server = await startSshd();
const hop = await startHop(server, ROUND_TRIP_MS / 2);
const rows = [];
try {
  for (const transport of TRANSPORTS) {
    const paths = {};
    for (const [path, port] of [
      ["loopback", server.port],
      ["hop", hop.port],
    ]) {
      const connected = await connectTransport({ ...server.connectOptions(), port }, transport);
      if (connected.unavailable) throw new Error(connected.unavailable);
      paths[path] = connected.sandbox;
      // Warm: the SFTP session (channels) opens on first use, and that is not the transfer's cost.
      const warm = join(scratch, "warm.txt");
      writeFileSync(warm, "warm");
      await connected.sandbox.uploadFile(warm, `${connected.sandbox.homeDir}/bench-dir-warm.txt`);
      await connected.sandbox.downloadFile(`${connected.sandbox.homeDir}/bench-dir-warm.txt`, warm);
    }
    const home = paths.loopback.homeDir;
    const remoteTree = `${home}/bench-dir-source`;
    await paths.loopback.uploadDirectory(source, remoteTree);
    let n = 0;
    const fresh = () => `${home}/bench-dir-${transport}-${n++}`;
    const cases = {
      "uploadDirectory, 5,000 files": (sandbox) => sandbox.uploadDirectory(source, fresh()),
      "downloadDirectory, 5,000 files": (sandbox) =>
        sandbox.downloadDirectory(remoteTree, join(scratch, `down-${n++}`)),
      "uploadFile per file, one at a time (500, ×10)": async (sandbox) => {
        const to = fresh();
        for (const rel of names.slice(0, SLICE)) await sandbox.uploadFile(join(source, rel), `${to}/${rel}`);
      },
      "downloadFile per file, one at a time (500, ×10)": async (sandbox) => {
        const to = join(scratch, `down-${n++}`);
        for (const rel of names.slice(0, SLICE))
          await sandbox.downloadFile(`${remoteTree}/${rel}`, join(to, rel));
      },
      "uploadFile per file, 8 at a time (5,000)": (sandbox) => {
        const to = fresh();
        return inParallel(names, 8, (rel) => sandbox.uploadFile(join(source, rel), `${to}/${rel}`));
      },
    };
    for (const [name, work] of Object.entries(cases)) {
      if (dirsOnly && !name.includes("Directory")) continue;
      const scale = name.includes("×10") ? FILES / SLICE : 1;
      const samples = { loopback: [], hop: [] };
      // Alternating paths: both see the same load on this shared machine.
      for (let i = 0; i < (name.includes("8 at a time") ? 1 : SAMPLES); i++) {
        for (const path of ["loopback", "hop"])
          samples[path].push((await timed(() => work(paths[path]))) * scale);
      }
      const loop = percentile(samples.loopback, 50);
      const through = percentile(samples.hop, 50);
      const row = {
        transport,
        name,
        loopbackMs: loop,
        hopMs: through,
        roundTrips: (through - loop) / ROUND_TRIP_MS,
      };
      rows.push(row);
      log(
        `${transport.padEnd(8)} ${name.padEnd(48)} loopback ${(loop / 1000).toFixed(2)} s  hop ${(through / 1000).toFixed(2)} s  round trips ${row.roundTrips.toFixed(1)}`,
      );
    }
    await paths.loopback.exec(`rm -rf ${home}/bench-dir-*`);
    for (const sandbox of Object.values(paths)) await sandbox.close();
  }
} finally {
  await hop.stop();
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
}
