// Release check: runs `changeset version` on a scratch copy of the workspace's manifests and
// pending changesets, and checks the result against the versions the changesets call for. The
// published packages are one fixed group, so each gets the same new version; private ones none.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { report, root, workspacePackages } from "./workspace-packages.mjs";

const BUMPS = ["patch", "minor", "major"];
const packages = workspacePackages();
const published = packages.filter((pkg) => pkg.published);
const failures = [];

/** The pending changesets: which packages each bumps, how, and its summary's first line. */
function pendingChangesets() {
  const dir = join(root, ".changeset");
  return readdirSync(dir)
    .filter((file) => file.endsWith(".md") && file !== "README.md")
    .map((file) => {
      const text = readFileSync(join(dir, file), "utf8");
      const match = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(text);
      if (!match) {
        failures.push(`.changeset/${file} has no front matter`);
        return { file, bumps: [], firstLine: "" };
      }
      const bumps = match[1]
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => {
          const [, name, bump] = /^["']?([^"']+)["']?:\s*(\w+)\s*$/.exec(line.trim()) ?? [];
          return { name, bump };
        });
      return { file, bumps, firstLine: match[2].trim().split("\n")[0] };
    });
}

function increment(version, bump) {
  const [major, minor, patch] = version.split(".").map(Number);
  if (bump === "major") return `${major + 1}.0.0`;
  if (bump === "minor") return `${major}.${minor + 1}.0`;
  return `${major}.${minor}.${patch + 1}`;
}

const changesets = pendingChangesets();
const names = new Set(published.map((pkg) => pkg.manifest.name));
let highest = -1;
for (const { file, bumps } of changesets) {
  for (const { name, bump } of bumps) {
    if (!names.has(name)) failures.push(`.changeset/${file} names ${name}, which is not a published package`);
    if (!BUMPS.includes(bump)) failures.push(`.changeset/${file} asks for "${bump}" (patch, minor or major)`);
    highest = Math.max(highest, BUMPS.indexOf(bump));
  }
}
const current = [...new Set(published.map((pkg) => pkg.manifest.version))];
if (current.length !== 1)
  failures.push(`published packages disagree on their version: ${current.join(", ")}`);
const expected = highest < 0 ? current[0] : increment(current[0], BUMPS[highest]);

// Problems with the changesets themselves make `changeset version` meaningless: report them now.
if (failures.length > 0) report("changeset check", failures, "");

const scratch = mkdtempSync(join(tmpdir(), "exedev-changesets-"));
try {
  for (const file of ["package.json", "pnpm-workspace.yaml"]) cpSync(join(root, file), join(scratch, file));
  cpSync(join(root, ".changeset"), join(scratch, ".changeset"), { recursive: true });
  for (const { dir, folder } of packages) {
    mkdirSync(join(scratch, "packages", folder), { recursive: true });
    for (const file of ["package.json", "CHANGELOG.md"]) {
      if (existsSync(join(dir, file))) cpSync(join(dir, file), join(scratch, "packages", folder, file));
    }
  }
  const cli = createRequire(join(root, "package.json")).resolve("@changesets/cli/bin.js");
  try {
    execFileSync(process.execPath, [cli, "version"], { cwd: scratch, encoding: "utf8", stdio: "pipe" });
  } catch (error) {
    const output = `${error.stdout ?? ""}${error.stderr ?? ""}`.trim();
    failures.push(`changeset version failed: ${output.split("\n").slice(-5).join(" / ")}`);
  }

  for (const { folder, manifest, published: isPublished } of failures.length > 0 ? [] : packages) {
    const after = JSON.parse(readFileSync(join(scratch, "packages", folder, "package.json"), "utf8"));
    const wanted = isPublished ? expected : manifest.version;
    if (after.version !== wanted)
      failures.push(`${manifest.name} became ${after.version}, expected ${wanted}`);
    if (!isPublished || highest < 0) continue;
    const changelogPath = join(scratch, "packages", folder, "CHANGELOG.md");
    const changelog = existsSync(changelogPath) ? readFileSync(changelogPath, "utf8") : "";
    if (!changelog.includes(`## ${expected}`))
      failures.push(`${manifest.name}'s CHANGELOG has no ${expected} section`);
    for (const { file, bumps, firstLine } of changesets) {
      if (bumps.some((each) => each.name === manifest.name) && !changelog.includes(firstLine)) {
        failures.push(`${manifest.name}'s CHANGELOG misses .changeset/${file}`);
      }
    }
  }
  const left = readdirSync(join(scratch, ".changeset")).filter(
    (file) => file.endsWith(".md") && file !== "README.md",
  );
  if (left.length > 0) failures.push(`changeset version left ${left.join(", ")} unconsumed`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
report(
  "changeset check",
  failures,
  highest < 0
    ? `no pending changesets; versions stay ${expected}`
    : `${changesets.length} changesets take ${published.length} packages from ${current[0]} to ${expected}`,
);
