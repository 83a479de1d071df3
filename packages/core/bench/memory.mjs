// Child process of bench.mjs: uploads and downloads a 1 GiB file and reports how far the peak
// RSS rose above the connected baseline. Streaming transfers keep that rise small.

import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { connectSandbox } from "../dist/index.js";

const options = JSON.parse(process.argv[2]);
const dir = mkdtempSync(join(tmpdir(), "exedev-bench-mem-"));
const local = join(dir, "1gib.bin");
const block = randomBytes(1024 * 1024);
const fd = openSync(local, "w");
for (let i = 0; i < 1024; i++) writeSync(fd, block);
closeSync(fd);

const sandbox = await connectSandbox(options);
await sandbox.exec("true");
await sandbox.stat(sandbox.homeDir); // SFTP open before the baseline
global.gc?.();
const baselineKiB = process.resourceUsage().maxRSS;
const remote = `${sandbox.homeDir}/bench-1gib.bin`;
const started = performance.now();
await sandbox.uploadFile(local, remote);
await sandbox.downloadFile(remote, `${local}.down`);
const seconds = (performance.now() - started) / 1000;
const peakKiB = process.resourceUsage().maxRSS;
if (statSync(`${local}.down`).size !== 1024 ** 3) throw new Error("1 GiB download has the wrong size");
await sandbox.rm(remote);
await sandbox.close();
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    baselineMiB: baselineKiB / 1024,
    peakMiB: peakKiB / 1024,
    rssRiseMiB: (peakKiB - baselineKiB) / 1024,
    seconds,
  }),
);
