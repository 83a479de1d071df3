// Sums the vitest JSON reports of every package into one closing line, so that a run which
// executed no tests (or fewer than expected) is visible in CI output.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const packagesDir = new URL("../packages/", import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const name of readdirSync(packagesDir)) {
  const report = join(packagesDir, name, ".vitest", "report.json");
  if (!existsSync(report)) {
    missing.push(name);
    continue;
  }
  const data = JSON.parse(readFileSync(report, "utf8"));
  passed += data.numPassedTests ?? 0;
  failed += (data.numFailedTests ?? 0) + (data.numFailedTestSuites ?? 0);
  skipped += (data.numPendingTests ?? 0) + (data.numTodoTests ?? 0);
}
if (missing.length > 0) console.log(`no test report from: ${missing.join(", ")}`);
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
