import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// These tests read the built entry (`pnpm build` first), since that is what a Worker bundles.
const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, "../../dist");
const entry = join(dist, "https.js");
const IMPORT =
  /(?:^|[;\s}])(?:import|export)\s*(?:[^'"`;]*?\sfrom\s*)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Every module specifier reachable from `file`, following relative imports. */
function importGraph(file: string, seen = new Map<string, string[]>()): Map<string, string[]> {
  if (seen.has(file)) return seen;
  const specifiers = [...readFileSync(file, "utf8").matchAll(IMPORT)].map(
    (match) => match[1] ?? match[2] ?? "",
  );
  seen.set(file, specifiers);
  for (const specifier of specifiers) {
    if (specifier.startsWith(".")) importGraph(resolve(dirname(file), specifier), seen);
  }
  return seen;
}

describe("the @exedev-sandbox/core/https entry", () => {
  it("imports nothing from node: or ssh2 (nor any other package)", () => {
    expect(existsSync(entry), "build packages/core first (dist/https.js)").toBe(true);
    const graph = importGraph(entry);
    expect(graph.size).toBeGreaterThan(1); // the entry and its shared chunk
    const external = [...graph.values()].flat().filter((specifier) => !specifier.startsWith("."));
    expect(external).toEqual([]);
    // The whole text too: a `require("node:…")` or a `process.`/`Buffer.` use would break a Worker.
    for (const file of graph.keys()) {
      const text = readFileSync(file, "utf8");
      expect(text, file).not.toMatch(/["']node:|["']ssh2["']|\brequire\(/);
    }
  });

  it("runs an exec and a file round trip in a context with only Web globals", () => {
    expect(existsSync(entry), "build packages/core first (dist/https.js)").toBe(true);
    // A child process, because linking ES modules in a node:vm context needs --experimental-vm-modules.
    const child = spawnSync(
      process.execPath,
      ["--experimental-vm-modules", "--no-warnings", join(here, "worker-like-run.test-support.mjs"), entry],
      { encoding: "utf8", timeout: 60_000 },
    );
    expect(child.stderr).toBe("");
    const report = JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}");
    expect(report).toEqual({
      globals: { process: "undefined", Buffer: "undefined", require: "undefined" },
      exitCode: 42,
      stdout: "hello\n",
      stderr: "oops\n",
      roundTrip: "héllo ✓",
    });
  });
});
