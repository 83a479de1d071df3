// Finds the TypeScript snippets of the READMEs and what each one may be used for.
//
// The convention, for README authors (also in CONTRIBUTING.md):
// - A ```ts block is a complete program: its imports, top-level await, nothing from elsewhere.
//   It is type-checked as a newcomer's project would check it and run against the emulator.
// - An HTML comment on the line right before the fence changes that, and must say why:
//     <!-- snippet: typecheck-only: needs a real model and its API key -->
//       type-checked, not run (a real model, a host reached by DNS, a long-running server);
//     <!-- snippet: fragment: lines of a config file shown on their own -->
//       neither (keep these rare: a fragment cannot rot visibly).
// A marker without a reason, or an unknown one, fails the test.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** How a snippet is tested. */
export type SnippetMode = "run" | "typecheck-only" | "fragment";

/** One ```ts block of a README. */
export interface Snippet {
  /** The README, relative to the repository root, e.g. `packages/core/README.md`. */
  readme: string;
  /** Line of the README where the code starts (the line after the fence), 1-based. */
  line: number;
  /** The code. */
  code: string;
  mode: SnippetMode;
  /** Why it is not run, for typecheck-only and fragment. */
  reason: string | undefined;
  /** A file name for it, unique within the repository. */
  fileName: string;
}

/** One ```sh line that installs packages. */
export interface InstallLine {
  readme: string;
  /** The packages it names (versions and flags dropped). */
  packages: string[];
}

const FENCE = /^```(\w*)\s*$/;
const MARKER = /^<!--\s*snippet:\s*([\w-]+)\s*(?::\s*(.*?))?\s*-->\s*$/;
const TS_LANGUAGES = new Set(["ts", "typescript", "tsx", "mts"]);

/** The root README and every package README, relative to `root`. */
export function findReadmes(root: string): string[] {
  const packages = readdirSync(join(root, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join("packages", entry.name, "README.md"))
    .filter((path) => {
      try {
        readFileSync(join(root, path));
        return true;
      } catch {
        return false;
      }
    });
  return ["README.md", ...packages.sort()];
}

interface Block {
  language: string;
  /** 0-based index of the first code line. */
  start: number;
  code: string;
  marker: string | undefined;
}

function blocksOf(text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = FENCE.exec(lines[index] as string);
    if (!open) continue;
    let end = index + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end] as string)) end++;
    const previous = index > 0 ? (lines[index - 1] as string) : "";
    blocks.push({
      language: open[1] ?? "",
      start: index + 1,
      code: lines.slice(index + 1, end).join("\n"),
      marker: previous.trimStart().startsWith("<!--") ? previous.trim() : undefined,
    });
    index = end;
  }
  return blocks;
}

function modeOf(
  marker: string | undefined,
  where: string,
): { mode: SnippetMode; reason: string | undefined } {
  if (marker === undefined) return { mode: "run", reason: undefined };
  const match = MARKER.exec(marker);
  if (!match) return { mode: "run", reason: undefined };
  const [, mode, reason] = match;
  if (mode !== "typecheck-only" && mode !== "fragment") {
    throw new Error(`${where}: unknown snippet marker "${mode}" (use typecheck-only or fragment).`);
  }
  if (!reason) throw new Error(`${where}: the snippet marker "${mode}" needs a reason after a colon.`);
  return { mode, reason };
}

/** Every TypeScript snippet of `readme`. */
export function snippetsOf(root: string, readme: string): Snippet[] {
  const text = readFileSync(join(root, readme), "utf8");
  const slug = readme.replace(/\/README\.md$|\.md$/, "").replaceAll("/", "-") || "root";
  return blocksOf(text)
    .filter((block) => TS_LANGUAGES.has(block.language))
    .map((block) => {
      const line = block.start + 1;
      const { mode, reason } = modeOf(block.marker, `${readme}:${line}`);
      return {
        readme,
        line,
        code: `${block.code}\n`,
        mode,
        reason,
        fileName: `${slug === "README" ? "root" : slug}-line-${line}.ts`,
      };
    });
}

/** The `npm install` (or pnpm/yarn add) lines of `readme`'s shell blocks. */
export function installLinesOf(root: string, readme: string): InstallLine[] {
  const text = readFileSync(join(root, readme), "utf8");
  const lines: InstallLine[] = [];
  for (const block of blocksOf(text)) {
    if (!["sh", "bash", "shell", "console"].includes(block.language)) continue;
    for (const line of block.code.split("\n")) {
      const command = line.replace(/#.*$/, "").trim();
      const match = /^(?:npm (?:install|i)|pnpm add|yarn add|bun add)\s+(.*)$/.exec(command);
      if (!match) continue;
      const packages = (match[1] as string)
        .split(/\s+/)
        .map((word) => word.replace(/^["']|["']$/g, ""))
        .filter((word) => word && !word.startsWith("-"))
        .map((word) => word.replace(/(?<=.)@[^/]*$/, ""));
      lines.push({ readme, packages });
    }
  }
  return lines;
}

/** The packages a snippet imports (bare specifiers, `node:` built-ins left out). */
export function importedPackages(code: string): string[] {
  const found = new Set<string>();
  for (const match of code.matchAll(/(?:^|\s)(?:import|export)\s[^"';]*?from\s+["']([^"']+)["']/gm)) {
    const specifier = match[1] as string;
    if (specifier.startsWith(".") || specifier.startsWith("node:")) continue;
    const parts = specifier.split("/");
    found.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string));
  }
  return [...found].sort();
}
