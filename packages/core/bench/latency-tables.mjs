// Markdown tables of the latency leg (latency.mjs) and of the tool loop through the hop, shared by
// the leg's own output and the root summary (bench/summary-table.mjs).

/** The operations of the latency leg, in table order: results key and label. */
export const LATENCY_OPERATIONS = [
  ["exec", '`exec("echo hi")`'],
  ["stat", "`stat`"],
  ["readFile1KiB", "`readFile` 1 KiB"],
  ["writeFile1KiB", "`writeFile` 1 KiB"],
  ["concurrent20", "20 concurrent execs, wall"],
  ["concurrent1000", "1,000 concurrent execs, wall"],
  ["connect", "connect until the first command can run"],
  ["connectFirstExec", "connect + first exec"],
];

const ms = (value) => (value === undefined ? "–" : `${value.toFixed(value < 10 ? 2 : 1)} ms`);
const rows = (header, body) => [
  `| ${header.join(" | ")} |`,
  `| ${header.map(() => "---").join(" | ")} |`,
  ...body.map((row) => `| ${row.join(" | ")} |`),
];

function failures(op) {
  const failed = (op.loopback.failed ?? 0) + (op.hop.failed ?? 0);
  if (!failed) return "";
  const of = (op.loopback.attempts ?? 0) + (op.hop.attempts ?? 0);
  return `, ${failed} of ${of} failed`;
}

function roundTripCell(column, key) {
  if (column.unavailable) return column.unavailable;
  const op = column.ops[key];
  if (!op) return "–";
  if (op.note) return op.note;
  if (op.roundTrips === undefined) return `no result${failures(op)}`;
  // Below zero the hop was faster than loopback: the operation is CPU-bound and the load varied.
  const trips = op.roundTrips < 0 ? "≈ 0 (CPU-bound)" : op.roundTrips.toFixed(1);
  return `${trips}${failures(op)}`;
}

function medianCell(column, key) {
  if (column.unavailable) return column.unavailable;
  const op = column.ops[key];
  if (!op) return "–";
  if (op.note) return op.note;
  return `${ms(op.loopback.p50)} / ${ms(op.hop.p50)}${failures(op)}`;
}

/** Round trips per operation, then the raw medians (loopback / hop), one column per way. */
export function latencyTables(latency) {
  const columns = Object.values(latency.columns);
  const header = ["operation", ...columns.map((column) => column.label)];
  const trips = LATENCY_OPERATIONS.map(([key, label]) => [
    label,
    ...columns.map((column) => roundTripCell(column, key)),
  ]);
  const medians = LATENCY_OPERATIONS.map(([key, label]) => [
    label,
    ...columns.map((column) => medianCell(column, key)),
  ]);
  return [
    `Round trips per operation: (median through a ${latency.roundTripMs} ms round trip − median on loopback) / ${latency.roundTripMs} ms, same sshd, one run`,
    "",
    ...rows(header, trips),
    "",
    "Medians, loopback / through the hop",
    "",
    ...rows(header, medians),
  ];
}

/** The loopback p50 `exec` of each transport against ControlMaster's (the agent's goal is ≥ 5×). */
export function loopbackRatioLines(latency) {
  return latency.loopbackExecRatios.map(
    ({ transport, ratio, note }) =>
      `loopback p50 exec, ControlMaster / ${transport}: ${ratio === undefined ? note : `${ratio.toFixed(1)}×`}${
        transport === "agent" ? " (goal ≥ 5×)" : ""
      }`,
  );
}

/** 64 MiB transfers on loopback against the raw channel ceiling. */
export function transferCeilingTable(ceiling) {
  const body = ceiling.rows.map(({ label, mbps, ofCeilingPercent, note }) => [
    label,
    mbps === undefined ? (note ?? "–") : `${mbps.toFixed(0)} MB/s${note ? ` (${note})` : ""}`,
    ofCeilingPercent === undefined ? "" : `${ofCeilingPercent.toFixed(0)} %`,
  ]);
  return [
    `64 MiB ${ceiling.via === "hop" ? "through the 20 ms round trip" : "on loopback"} (median of ${ceiling.samples}); ceiling: one raw ssh2 exec channel, same connection options`,
    "",
    ...rows(["transfer", "MB/s", "of the raw channel, same direction"], body),
  ];
}

/** The tool loop through every adapter, on loopback and through the hop, per transport. */
export function toolLoopHopTable(hop) {
  const body = hop.legs.map((leg) =>
    leg.unavailable
      ? [leg.name, leg.transport, leg.unavailable, "", "", ""]
      : [
          leg.name,
          leg.transport,
          ms(leg.loopbackMs),
          ms(leg.hopMs),
          ms(leg.hopMs / hop.steps),
          ((leg.hopMs - leg.loopbackMs) / hop.roundTripMs / hop.steps).toFixed(1),
        ],
  );
  return [
    `${hop.steps}-step tool loop through a ${hop.roundTripMs} ms round trip (median of ${hop.rounds} rounds each)`,
    "",
    ...rows(
      ["leg", "transport", "loopback total", "hop total", "hop per step", "round trips per step"],
      body,
    ),
  ];
}
