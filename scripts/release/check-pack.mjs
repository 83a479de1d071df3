// Release check: packs every published package as `pnpm publish` would and inspects the tarball.
// It must hold only dist and docs, ship the files package.json points at, and carry real
// version ranges where the workspace says `workspace:` (pnpm rewrites them on pack).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { report, workspacePackages } from "./workspace-packages.mjs";

const DOCS = new Set(["package.json", "README.md", "LICENSE", "CHANGELOG.md"]);
const packages = workspacePackages();
const versions = new Map(packages.map((pkg) => [pkg.manifest.name, pkg.manifest.version]));
const pnpm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ["pnpm"];
const scratch = mkdtempSync(join(tmpdir(), "exedev-pack-"));
const failures = [];

/** Every path package.json names (exports, main, types, bin, the Paperclip entry points). */
function declaredPaths(manifest) {
  const paths = [];
  const walk = (value) => {
    if (typeof value === "string" && value.startsWith("./") && !value.includes("*"))
      paths.push(value.slice(2));
    else if (value && typeof value === "object") for (const each of Object.values(value)) walk(each);
  };
  walk([manifest.exports, manifest.main, manifest.types, manifest.bin, manifest.paperclipPlugin]);
  return paths;
}

try {
  for (const { dir, manifest } of packages.filter((pkg) => pkg.published)) {
    const packed = JSON.parse(
      execFileSync(pnpm[0], [...pnpm.slice(1), "pack", "--json", "--pack-destination", scratch], {
        cwd: dir,
        encoding: "utf8",
      }),
    );
    const files = packed.files.map((file) => file.path);
    for (const file of files) {
      const allowed = DOCS.has(file) || (file.startsWith("dist/") && !/\.test\.|\/test-/.test(file));
      if (!allowed)
        failures.push(`${manifest.name}: ${file} is in the tarball (only dist and docs belong there)`);
    }
    for (const needed of ["README.md", "LICENSE", ...declaredPaths(manifest)]) {
      if (!files.includes(needed)) failures.push(`${manifest.name}: ${needed} is missing from the tarball`);
    }
    const shipped = JSON.parse(
      execFileSync("tar", ["-xzOf", packed.filename, "package/package.json"], { encoding: "utf8" }),
    );
    for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
      for (const [name, range] of Object.entries(shipped[field] ?? {})) {
        if (range.startsWith("workspace:"))
          failures.push(`${manifest.name}: ${field}.${name} is still ${range}`);
        else if (versions.has(name) && !range.endsWith(versions.get(name))) {
          failures.push(
            `${manifest.name}: ${field}.${name} is ${range}, not the workspace's ${versions.get(name)}`,
          );
        }
      }
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
report(
  "pack check",
  failures,
  `${packages.filter((pkg) => pkg.published).length} tarballs hold only dist and docs`,
);
