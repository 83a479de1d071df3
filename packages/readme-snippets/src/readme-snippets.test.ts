// The READMEs under test. Every ```ts block of the root README and of every package README is
// extracted (see snippets.ts for the marker convention), type-checked against the built packages
// the way a newcomer's project would check it (strict, exactOptionalPropertyTypes; once with
// `module: nodenext`, once with `moduleResolution: bundler`), and, unless marked, run with Node
// against the emulator: EXE_API_URL, EXE_API_TOKEN and EXE_SSH_KEY point at it, HOME is a
// scratch directory (so `accept-new` writes no real known_hosts), and a VM named
// `my-project-vm`, the READMEs' placeholder, exists. Models in runnable snippets are the
// frameworks' own mocks (`ai/test`, `@langchain/core/testing`). New blocks are picked up as
// they are written.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createExeDevApi, generateSshKeyPair } from "@exedev-sandbox/core";
import { type Emulator, startEmulator } from "@exedev-sandbox/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findReadmes, importedPackages, installLinesOf, type Snippet, snippetsOf } from "./snippets.ts";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const WORK_DIR = fileURLToPath(new URL("../.snippets", import.meta.url));
/** The VM name the READMEs use as a placeholder; it exists on the emulator during the runs. */
const PLACEHOLDER_VM = "my-project-vm";
const RUN_TIMEOUT_MS = 120_000;

const readmes = findReadmes(ROOT);
const snippets: Snippet[] = readmes.flatMap((readme) => snippetsOf(ROOT, readme));
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

interface Outcome {
  code: number | null;
  output: string;
}

function run(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [file, ...args],
      { cwd: options.cwd, env: options.env ?? process.env, timeout: RUN_TIMEOUT_MS, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
        resolve({ code, output: `${stdout}${stderr}`.trim() });
      },
    );
  });
}

/** tsc's messages with snippet files and lines turned into README paths and lines. */
function inReadmeTerms(output: string): string {
  return output
    .split("\n")
    .map((line) => {
      const match = /^(\S+\.ts)\((\d+),(\d+)\)(.*)$/.exec(line);
      const snippet = match && snippets.find((candidate) => match[1]!.endsWith(candidate.fileName));
      if (!match || !snippet) return line;
      return `${snippet.readme}:${snippet.line + Number(match[2]) - 1}:${match[3]}${match[4]}`;
    })
    .join("\n");
}

function writeProject(): void {
  rmSync(WORK_DIR, { recursive: true, force: true });
  mkdirSync(WORK_DIR, { recursive: true });
  // What `npm init -y` plus `"type": "module"` gives a newcomer; the packages resolve through
  // this package's node_modules, one level up, to the built workspace packages.
  writeFileSync(join(WORK_DIR, "package.json"), JSON.stringify({ private: true, type: "module" }, null, 2));
  const files = snippets.filter((snippet) => snippet.mode !== "fragment").map((snippet) => snippet.fileName);
  for (const snippet of snippets) writeFileSync(join(WORK_DIR, snippet.fileName), snippet.code);
  const common = {
    strict: true,
    exactOptionalPropertyTypes: true,
    target: "esnext",
    types: ["node"],
    skipLibCheck: true,
    noEmit: true,
  };
  const modes = {
    nodenext: { module: "nodenext", moduleResolution: "nodenext" },
    bundler: { module: "esnext", moduleResolution: "bundler" },
  };
  for (const [name, mode] of Object.entries(modes)) {
    writeFileSync(
      join(WORK_DIR, `tsconfig.${name}.json`),
      JSON.stringify({ compilerOptions: { ...common, ...mode }, files }, null, 2),
    );
  }
}

describe("README snippets", () => {
  beforeAll(writeProject);

  it("are found, and every marker says why", () => {
    expect(readmes).toContain("packages/core/README.md");
    expect(snippets.length).toBeGreaterThan(10);
    for (const snippet of snippets) {
      if (snippet.mode !== "run") expect(snippet.reason, `${snippet.readme}:${snippet.line}`).toBeTruthy();
    }
  });

  it("name every package they import in their README's install lines", () => {
    const missing: string[] = [];
    for (const readme of readmes) {
      const installed = new Set(installLinesOf(ROOT, readme).flatMap((line) => line.packages));
      for (const snippet of snippets.filter((candidate) => candidate.readme === readme)) {
        for (const name of importedPackages(snippet.code)) {
          if (!installed.has(name)) {
            missing.push(`${readme}:${snippet.line} imports ${name}, which no install line names`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it("are what this package depends on: every package they import, and nothing else", () => {
    const manifest = JSON.parse(
      readFileSync(fileURLToPath(new URL("../package.json", import.meta.url)), "utf8"),
    );
    const declared = Object.keys(manifest.devDependencies as Record<string, string>);
    // This test's own needs, and bash-tool's peer (it loads just-bash itself).
    const ownNeeds = ["@exedev-sandbox/core", "@exedev-sandbox/emulator", "vitest", "just-bash"];
    const imported = [...new Set(snippets.flatMap((snippet) => importedPackages(snippet.code)))];
    expect(imported.filter((name) => !declared.includes(name))).toEqual([]);
    expect(declared.filter((name) => !imported.includes(name) && !ownNeeds.includes(name))).toEqual([]);
  });

  for (const mode of ["nodenext", "bundler"]) {
    it(`compile under tsc --strict --exactOptionalPropertyTypes with ${mode} resolution`, async () => {
      const { code, output } = await run(tsc, ["-p", `tsconfig.${mode}.json`, "--pretty", "false"], {
        cwd: WORK_DIR,
      });
      expect(inReadmeTerms(output)).toBe("");
      expect(code).toBe(0);
    });
  }

  describe("run against the emulator", () => {
    let emulator: Emulator;
    let home: string;
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      home = mkdtempSync(join(tmpdir(), "exedev-readme-home-"));
      emulator = await startEmulator({ dataDir: join(home, "emulator") });
      const key = generateSshKeyPair();
      emulator.registerKey(key.publicKey, "newcomer");
      mkdirSync(join(home, ".ssh"), { mode: 0o700 });
      const keyPath = join(home, ".ssh", "id_ed25519");
      writeFileSync(keyPath, key.privateKey, { mode: 0o600 });
      writeFileSync(`${keyPath}.pub`, `${key.publicKey}\n`);
      const token = emulator.createToken();
      await createExeDevApi({ baseUrl: emulator.apiUrl, token }).newVm({ name: PLACEHOLDER_VM });
      // A newcomer's shell: no agent, no VM host, nothing of this process's own settings.
      env = {
        PATH: process.env.PATH,
        HOME: home,
        TMPDIR: tmpdir(),
        EXE_API_URL: emulator.apiUrl,
        EXE_API_TOKEN: token,
        EXE_SSH_KEY: keyPath,
      };
    });

    afterAll(async () => {
      await emulator?.stop();
      if (home) rmSync(home, { recursive: true, force: true });
    });

    const runnable = snippets.filter((snippet) => snippet.mode === "run");
    it("include the main example of every package README that has one", () => {
      expect(runnable.length).toBeGreaterThan(8);
    });
    for (const snippet of runnable) {
      it(`${snippet.readme}:${snippet.line} exits 0`, async () => {
        const { code, output } = await run(snippet.fileName, [], { cwd: WORK_DIR, env });
        if (process.env.EXEDEV_TEST_SHOW_SNIPPET_OUTPUT)
          console.log(`${snippet.readme}:${snippet.line}\n${output}`);
        expect(code, output).toBe(0);
      });
    }
  });
});
