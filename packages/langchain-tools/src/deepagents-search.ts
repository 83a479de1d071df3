import { compileGlob, type Sandbox, SandboxError, shellQuote } from "@exedev-sandbox/core";
import {
  applyGrepMaxCount,
  type FileInfo,
  type GlobResult,
  type GrepMatch,
  type GrepResult,
} from "deepagents";
import { escapeGlob, expandBraces, MAX_BRACE_ALTERNATIVES } from "./glob-pattern.js";
import { BINARY_EXTENSIONS, mimeTypeOf } from "./mime-types.js";

/** Most entries `glob` walks before it stops and sets `truncated` (deepagents' own cap). */
const MAX_GLOB_ENTRIES = 50_000;

/** What the search commands run with. */
export interface SearchContext {
  sandbox: Sandbox;
  /** Deadline of one search command, in ms. */
  timeoutMs: number;
}

// Virtual file systems are endless or huge and never what a search means; deepagents' own
// sandboxes prune the same ones.
const PRUNE = String.raw`\( -path /proc -o -path /sys -o -path /dev -o -path /run \) -prune -o`;

function anyOf(tests: string[]): string {
  return tests.length === 1 ? (tests[0] as string) : String.raw`\( ${tests.join(" -o ")} \)`;
}

/** find tests for grep's file filter: a name glob matches the base name, one with `/` the path under `base`. */
function fileFilter(base: string, glob: string): string {
  // A base name never contains "/", so a leading "**/" can only match nothing.
  const names = expandBraces(glob.replace(/^(\*\*\/)+/, ""));
  if (!names) {
    throw new SandboxError(
      "invalid_argument",
      `The grep file glob has more than ${MAX_BRACE_ALTERNATIVES} brace alternatives; use fewer {a,b} groups.`,
    );
  }
  const prefix = `${escapeGlob(base === "/" ? "" : base)}/`;
  return anyOf(
    names.map((name) =>
      name.includes("/") ? `-path ${shellQuote(prefix + name)}` : `-name ${shellQuote(name)}`,
    ),
  );
}

/**
 * Literal search, as deepagents' `grep`: every line containing `pattern`, in files under `base`
 * (or `base` itself), optionally only files whose name matches `glob`. Files deepagents treats as
 * binary (by extension, or by content) are skipped; `maxCount` caps the matches.
 */
export async function grepFiles(
  { sandbox, timeoutMs }: SearchContext,
  pattern: string,
  base: string,
  glob: string | null | undefined,
  maxCount: number | null | undefined,
): Promise<GrepResult> {
  // Checked before any I/O, so a malformed glob such as "[z-a]" is invalid_argument.
  if (glob) compileGlob(glob);
  // grep -F reads a newline as "or"; a line never contains one, so nothing can match.
  if (pattern.includes("\n")) return { matches: [] };
  const binary = anyOf(BINARY_EXTENSIONS.map((extension) => `-iname ${shellQuote(`*${extension}`)}`));
  const names = glob ? ` ${fileFilter(base, glob)}` : "";
  const cap = typeof maxCount === "number" && maxCount >= 0 ? ` | head -n ${Math.floor(maxCount) + 1}` : "";
  // -Z ends each file name with NUL, so names with ':' or newlines still parse; -I skips files
  // whose content is binary, as deepagents' sandboxes (whose grep reports no lines for them) do.
  const command =
    `find -L ${shellQuote(base)} ${PRUNE} -type f ! ${binary}${names} ` +
    `-exec grep -HnFIZ -e ${shellQuote(pattern)} -- {} + 2>/dev/null${cap}`;
  const result = await sandbox.exec(command, { timeoutMs });

  const matches: GrepMatch[] = [];
  for (const [, path, line, text] of result.stdout.matchAll(/([^\0]*)\0(\d+):([^\n]*)\n/g)) {
    if (!mimeTypeOf(path as string).binary)
      matches.push({ path: path as string, line: Number(line), text: text as string });
  }
  if (result.timedOut && matches.length === 0) {
    return { error: `grep timed out after ${timeoutMs} ms; search a narrower path.`, matches };
  }
  // A missing path is no matches, as in deepagents' BaseSandbox (its grep's errors go to /dev/null).
  const found: GrepResult = result.timedOut || result.truncated ? { matches, truncated: true } : { matches };
  return applyGrepMaxCount({ result: found, maxCount });
}

/**
 * find options that narrow the walk to what `pattern` can match: without `**` it cannot go deeper
 * than its segments, and its last segment must match the entry's name (so `**\/*.py` from `/`
 * lists only .py files instead of the whole disk).
 */
function walkLimits(pattern: string): { depth: string; names: string } {
  const alternatives = expandBraces(pattern);
  // Too many to list on a command line: walk everything, the matcher still decides.
  if (!alternatives) return { depth: "", names: "" };
  const lasts = [...new Set(alternatives.map((alternative) => alternative.split("/").at(-1) as string))];
  const names = lasts.some((last) => last === "" || last.includes("**"))
    ? ""
    : ` ${anyOf(lasts.map((last) => `-name ${shellQuote(last)}`))}`;
  if (alternatives.some((alternative) => alternative.includes("**"))) return { depth: "", names };
  const depth = Math.max(...alternatives.map((alternative) => alternative.split("/").length));
  return { depth: ` -maxdepth ${depth}`, names };
}

/**
 * Entries under `base` whose path relative to it matches `pattern`, as deepagents' `glob`:
 * relative paths, directories included, links followed.
 */
export async function globFiles(
  { sandbox, timeoutMs }: SearchContext,
  pattern: string,
  base: string,
): Promise<GlobResult> {
  // deepagents' own file-system backends read "/src/*.ts" as relative to the base, too.
  const relative = pattern.replace(/^\/+/, "");
  // Compiled before any I/O: a malformed pattern is invalid_argument, and matching is linear.
  const matcher = compileGlob(relative);
  const { depth, names } = walkLimits(relative);
  const command =
    `find -L ${shellQuote(base)} -mindepth 1${depth} ${PRUNE}${names} ` +
    String.raw`-printf '%y\t%s\t%T@\t%P\0' 2>/dev/null | head -z -n ${MAX_GLOB_ENTRIES + 1}`;
  const result = await sandbox.exec(command, { timeoutMs });

  const rows = result.stdout.split("\0").filter(Boolean);
  const files: FileInfo[] = [];
  for (const row of rows.slice(0, MAX_GLOB_ENTRIES)) {
    const [type, size, mtime] = row.split("\t", 3);
    const path = row.split("\t").slice(3).join("\t");
    if (!matcher.test(path)) continue;
    const seconds = Number(mtime);
    files.push({
      path,
      is_dir: type === "d",
      size: Number(size),
      ...(Number.isFinite(seconds) ? { modified_at: new Date(seconds * 1000).toISOString() } : {}),
    });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // A missing base lists nothing, as in deepagents' BaseSandbox; only a deadline is an error.
  if (files.length === 0 && result.timedOut) {
    return { error: `glob timed out after ${timeoutMs} ms; search a narrower path.` };
  }
  return { files, truncated: rows.length > MAX_GLOB_ENTRIES || result.timedOut || result.truncated };
}
