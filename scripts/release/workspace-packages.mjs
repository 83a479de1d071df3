// The workspace's packages, read from packages/*/package.json, for the release checks.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const root = new URL("../../", import.meta.url).pathname;

/** Every package under packages/: its folder, its manifest, and whether it is published. */
export function workspacePackages(base = root) {
  return readdirSync(join(base, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => {
      const dir = join(base, "packages", entry.name);
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      return { dir, folder: entry.name, manifest, published: manifest.private !== true };
    });
}

/** Collects failures and exits non-zero with all of them listed, or prints `passed`. */
export function report(title, failures, passed) {
  if (failures.length > 0) {
    console.error(
      `${title}: ${failures.length} problem(s)\n${failures.map((line) => `  - ${line}`).join("\n")}`,
    );
    process.exit(1);
  }
  console.log(`${title}: ${passed}`);
}
