// The root benchmark's one table: core's measures (from packages/core/bench/results.json, written
// by core's bench in the same `pnpm bench` run) and the tool loop through every adapter, each set
// against what people use today; then core's latency leg (round trips through a 20 ms hop, the
// raw channel ceiling for transfers) and the tool loop through the hop, when they ran.
import {
  latencyTables,
  loopbackRatioLines,
  toolLoopHopTable,
  transferCeilingTable,
} from "../packages/core/bench/latency-tables.mjs";

const ms = (value) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;
const times = (slow, fast) => `${(slow / fast).toFixed(1)}x`;

/**
 * Markdown: the loopback table (measure, exedev-sandbox, baseline, speed-up), then the latency
 * tables of core's latency leg and of the tool loop through the hop, each present when it ran.
 */
export function summaryTable(core, loop, loopHop) {
  const rows = [];
  const clean = core?.runs?.clean;
  if (clean) {
    const echo = clean.sandboxSeq.p50;
    rows.push([
      "`echo hi`, p50",
      ms(echo),
      `ssh per command ${ms(clean.perCommand.p50)}`,
      times(clean.perCommand.p50, echo),
    ]);
    rows.push([
      "`echo hi`, p50",
      ms(echo),
      `ControlMaster ${ms(clean.controlMaster.p50)}`,
      times(clean.controlMaster.p50, echo),
    ]);
    rows.push([
      "100 concurrent `echo`, wall",
      `${ms(clean.concurrentWallMs)}, ${clean.concurrentFailures} failed`,
      "",
      "",
    ]);
    rows.push([
      "upload 64 MiB",
      `${clean.uploadMBps.toFixed(0)} MB/s`,
      `scp ${clean.scpUploadMBps.toFixed(0)} MB/s`,
      times(clean.uploadMBps, clean.scpUploadMBps),
    ]);
    rows.push([
      "download 64 MiB",
      `${clean.downloadMBps.toFixed(0)} MB/s`,
      `scp ${clean.scpDownloadMBps.toFixed(0)} MB/s`,
      times(clean.downloadMBps, clean.scpDownloadMBps),
    ]);
    rows.push([
      "stat / writeFile 1 KiB / readFile 1 KiB, p50",
      [clean.stat, clean.writeFile1KiB, clean.readFile1KiB].map((each) => ms(each.p50)).join(" / "),
      "",
      "",
    ]);
    rows.push([
      "1 GiB upload + download, peak RSS rise",
      `${clean.memory.rssRiseMiB.toFixed(1)} MiB`,
      "",
      "",
    ]);
  }
  const baseline = loop.legs.at(-1);
  for (const leg of loop.legs.slice(0, -1)) {
    rows.push([
      `${loop.steps}-step tool loop: ${leg.name}`,
      ms(leg.medianMs),
      `${baseline.name} ${ms(baseline.medianMs)}`,
      times(baseline.medianMs, leg.medianMs),
    ]);
  }
  const sections = [];
  if (core?.latency) sections.push(latencyTables(core.latency), loopbackRatioLines(core.latency));
  if (core?.transferCeiling) sections.push(transferCeilingTable(core.transferCeiling));
  if (loopHop) sections.push(toolLoopHopTable(loopHop));
  return [
    "| measure | exedev-sandbox | baseline | speed-up |",
    "| --- | --- | --- | --- |",
    ...rows.map((row) => `| ${row.join(" | ")} |`),
    ...sections.flatMap((lines) => ["", ...lines]),
  ];
}
