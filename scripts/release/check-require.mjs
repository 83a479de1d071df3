// Release check: a CommonJS project can require() every published package (Node >= 22.12 loads
// ES modules through require()). It builds a throwaway CommonJS project whose node_modules links
// to the built packages, so the `exports` maps are resolved exactly as an installed package's,
// then runs one require()-only script that uses every entry point for real: the emulator starts,
// core mints a token and creates a VM on it, and every adapter builds its tools over that VM.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { report, workspacePackages } from "./workspace-packages.mjs";

const packages = workspacePackages().filter((pkg) => pkg.published);
const scratch = mkdtempSync(join(tmpdir(), "exedev-require-"));
const failures = [];

/** Every entry point a package exports, as require() specifiers (`./package.json` left out). */
function entryPoints(manifest) {
  return Object.keys(manifest.exports ?? { ".": null })
    .filter((subpath) => subpath !== "./package.json")
    .map((subpath) => (subpath === "." ? manifest.name : `${manifest.name}/${subpath.slice(2)}`));
}

// The script runs as CommonJS: a .cjs file in a project without "type": "module".
const script = String.raw`
"use strict";
const assert = require("node:assert/strict");
const specifiers = JSON.parse(process.argv[2]);
const loaded = {};
for (const specifier of specifiers) {
  const mod = require(specifier);
  assert.ok(Object.keys(mod).length > 0, specifier + " exports nothing through require()");
  loaded[specifier] = mod;
}
const core = require("@exedev-sandbox/core");
const { startEmulator } = require("@exedev-sandbox/emulator");
const { exedev } = require("@exedev-sandbox/flue");
const { createExeDevTools: langchainTools } = require("@exedev-sandbox/langchain-tools");
const { createExeDevTools: aiTools } = require("@exedev-sandbox/vercel-ai-tools");
const paperclip = require("@exedev-sandbox/paperclip");

(async () => {
  assert.ok(core.isSandboxError(new core.SandboxError("not_found", "x"), "not_found"));
  assert.equal(typeof exedev("some-vm").createSandbox, "function");
  assert.equal(typeof paperclip.createExeDevPlugin, "function");
  const emulator = await startEmulator();
  try {
    const key = core.generateSshKeyPair("require-check");
    await emulator.registerKey(key.publicKey, "require-check");
    const token = await core.mintToken({
      privateKey: key.privateKey,
      permissions: { exp: Math.floor(Date.now() / 1000) + 600, cmds: ["new", "ls", "rm"] },
    });
    const api = core.createExeDevApi({ baseUrl: emulator.apiUrl, token });
    const sandbox = await core.createExeDevSandbox({
      create: true,
      api,
      privateKey: key.privateKey,
      hostKey: { sha256: emulator.hostKeyFingerprint },
    });
    try {
      const result = await sandbox.exec("echo required");
      assert.equal(result.stdout, "required\n");
      assert.ok(langchainTools(sandbox).length > 0);
      assert.ok(Object.keys(aiTools(sandbox)).length > 0);
    } finally {
      await sandbox.dispose();
    }
  } finally {
    await emulator.stop();
  }
  console.log("required " + specifiers.join(", "));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

try {
  const project = join(scratch, "cjs-project");
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "cjs-project", private: true }));
  for (const { dir, manifest } of packages) {
    const link = join(project, "node_modules", manifest.name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(dir, link, "dir");
  }
  writeFileSync(join(project, "check.cjs"), script);
  const specifiers = packages.flatMap(({ manifest }) => entryPoints(manifest));
  try {
    const out = execFileSync(process.execPath, ["check.cjs", JSON.stringify(specifiers)], {
      cwd: project,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000,
    });
    process.stdout.write(out);
  } catch (error) {
    failures.push(`require() from a CommonJS project failed:\n${error.stderr || error.message}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
report("require check", failures, `${packages.length} packages load through require()`);
