import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DirectoryTransferOptions, Sandbox } from "@exedev-sandbox/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { escapingLinks } from "./escaping-links.ts";

/** Each entry of a local tree, one line: kind, path, and the mode and hash or the link target. */
function describeTree(root: string): string[] {
  const lines: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      const info = lstatSync(path);
      if (info.isSymbolicLink()) lines.push(`link ${rel} -> ${readlinkSync(path)}`);
      else if (info.isDirectory()) {
        lines.push(`dir ${rel}`);
        walk(path, rel);
      } else {
        const hash = createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16);
        lines.push(`file ${rel} ${(info.mode & 0o777).toString(8)} ${hash}`);
      }
    }
  };
  walk(root, "");
  return lines;
}

const LONG_DIR = `deep/${"d".repeat(90)}`;
const LONG_FILE = `${LONG_DIR}/${"e".repeat(40)}.txt`;
const ODD_NAME = "name with spaces & ünïcode 'quotes'.txt";

/** A tree with what real repositories have: modes, links, long and odd names, an empty dir. */
function makeTree(root: string): { files: number; bytes: number } {
  const put = (rel: string, data: string | Buffer, mode = 0o644) => {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), data, { mode });
  };
  const blob = randomBytes(200 * 1024 + 3);
  put("README.md", "readme\n");
  put("bin/tool.sh", "#!/bin/sh\necho tool\n", 0o755);
  put("data/blob.bin", blob);
  put(LONG_FILE, "long\n");
  put(ODD_NAME, "odd\n");
  put("node_modules/pkg/index.js", "module.exports = 1;\n");
  put("logs/a.log", "log\n");
  put("keep.log.txt", "kept\n");
  mkdirSync(join(root, "empty-dir"));
  symlinkSync("README.md", join(root, "link-to-readme"));
  symlinkSync("../data/blob.bin", join(root, "bin", "blob"));
  const bytes = 7 + 20 + blob.length + 5 + 4 + 20 + 4 + 5;
  return { files: 10, bytes };
}

/**
 * Registers the directory-transfer cases of the sandbox contract: `uploadDirectory` and
 * `downloadDirectory` round trips, excludes, merging, errors, bad options and links that lead
 * out of the tree. `root` is a fresh remote directory of the suite's own.
 */
export function defineDirectoryTransferContract(sandbox: () => Sandbox, root: () => string): void {
  describe("directory transfers", () => {
    let local: string;
    let source: string;
    let expected: { files: number; bytes: number };
    const remote = (...parts: string[]) => [root(), "dirs", ...parts].join("/");
    const sh = async (script: string) => {
      const result = await sandbox().exec(script);
      expect(result.exitCode, result.stderr).toBe(0);
      return result.stdout;
    };
    const codeOf = (promise: Promise<unknown>) =>
      promise.then(
        () => "resolved",
        (error: { code?: string }) => error.code ?? String(error),
      );
    const leftovers = async (dir: string) =>
      (await sandbox().readdir(dir)).map((entry) => entry.name).filter((name) => name.includes("exedev-"));

    beforeAll(() => {
      local = mkdtempSync(join(tmpdir(), "exedev-dirs-contract-"));
      source = join(local, "source");
      expected = makeTree(source);
    });
    afterAll(() => rmSync(local, { recursive: true, force: true }));

    it("uploads and downloads a tree with modes, links, long and odd names kept", async () => {
      expect(await sandbox().uploadDirectory(source, remote("up", "tree"))).toEqual(expected);
      expect(await sh(`cat ${remote("up", "tree", "bin", "blob")} | wc -c`)).toBe(`${200 * 1024 + 3}\n`);
      expect((await sandbox().stat(remote("up", "tree", "bin", "tool.sh"))).mode & 0o777).toBe(0o755);
      expect(await sh(`readlink ${remote("up", "tree", "link-to-readme")}`)).toBe("README.md\n");
      expect(await sandbox().readFile(remote("up", "tree", LONG_FILE))).toBe("long\n");
      expect(await sandbox().readFile(remote("up", "tree", ODD_NAME))).toBe("odd\n");
      expect(await sandbox().exists(remote("up", "tree", "empty-dir"))).toBe(true);
      expect(await leftovers(remote("up"))).toEqual([]);

      const back = join(local, "back", "tree");
      expect(await sandbox().downloadDirectory(remote("up", "tree"), back)).toEqual(expected);
      expect(describeTree(back)).toEqual(describeTree(source));
      expect(readdirSync(join(local, "back"))).toEqual(["tree"]);
    });

    it("applies tar --exclude patterns on the side that packs", async () => {
      const exclude = ["node_modules", "*.log"];
      const without = (lines: string[]) =>
        lines.filter((line) => !line.includes("node_modules") && !line.includes("logs/a.log"));
      const up = await sandbox().uploadDirectory(source, remote("ex", "tree"), { exclude });
      expect(up.files).toBe(expected.files - 2);
      expect(await sh(`cd ${remote("ex", "tree")} && find . -name '*.log' -o -name node_modules`)).toBe("");
      expect(await sandbox().readFile(remote("ex", "tree", "keep.log.txt"))).toBe("kept\n");
      await sandbox().uploadDirectory(source, remote("ex", "full"));
      const down = join(local, "ex-down");
      expect((await sandbox().downloadDirectory(remote("ex", "full"), down, { exclude })).files).toBe(
        expected.files - 2,
      );
      expect(describeTree(down)).toEqual(without(describeTree(source)));
    });

    it("merges into existing directories on both sides, keeping what only the target had", async () => {
      await sh(
        `mkdir -p ${remote("merge")} && echo stale > ${remote("merge", "README.md")} && echo mine > ${remote("merge", "only-remote")}`,
      );
      await sandbox().uploadDirectory(source, remote("merge"));
      expect(await sandbox().readFile(remote("merge", "README.md"))).toBe("readme\n");
      expect(await sandbox().readFile(remote("merge", "only-remote"))).toBe("mine\n");
      const into = join(local, "merge-down");
      mkdirSync(into);
      writeFileSync(join(into, "only-local"), "mine\n");
      writeFileSync(join(into, "README.md"), "stale\n");
      await sandbox().downloadDirectory(remote("merge"), into);
      expect(readFileSync(join(into, "README.md"), "utf8")).toBe("readme\n");
      expect(readFileSync(join(into, "only-local"), "utf8")).toBe("mine\n");
      expect(readFileSync(join(into, "only-remote"), "utf8")).toBe("mine\n");
    });

    it("rejects an unpack that fails partway instead of claiming it done", async () => {
      // A non-empty directory where the tree has a file: the VM's tar cannot replace it.
      await sh(
        `mkdir -p ${remote("clash", "README.md")} && echo x > ${remote("clash", "README.md", "inner")}`,
      );
      expect(await codeOf(sandbox().uploadDirectory(source, remote("clash")))).toBe("io_error");
      expect(await leftovers(remote("clash"))).toEqual([]);
      expect(await leftovers(remote())).toEqual([]);
    });

    it("reports missing and wrong-kind paths with their codes, touching nothing", async () => {
      await sh(`mkdir -p ${remote("kinds")} && echo f > ${remote("kinds", "file")}`);
      writeFileSync(join(local, "a-file"), "f");
      expect(await codeOf(sandbox().uploadDirectory(join(local, "missing"), remote("kinds", "x")))).toBe(
        "not_found",
      );
      expect(await codeOf(sandbox().uploadDirectory(join(local, "a-file"), remote("kinds", "x")))).toBe(
        "not_a_directory",
      );
      expect(await codeOf(sandbox().uploadDirectory(source, remote("kinds", "file")))).toBe(
        "not_a_directory",
      );
      expect(await sandbox().readFile(remote("kinds", "file"))).toBe("f\n");
      expect(await codeOf(sandbox().downloadDirectory(remote("kinds", "missing"), join(local, "k1")))).toBe(
        "not_found",
      );
      expect(await codeOf(sandbox().downloadDirectory(remote("kinds", "file"), join(local, "k2")))).toBe(
        "not_a_directory",
      );
      expect(await codeOf(sandbox().downloadDirectory(remote("up", "tree"), join(local, "a-file")))).toBe(
        "not_a_directory",
      );
      expect(await leftovers(remote("kinds"))).toEqual([]);
      expect(readdirSync(local).filter((name) => name.startsWith(".") || name.startsWith("k"))).toEqual([]);
    });

    it("rejects bad options and paths with invalid_argument before any I/O", async () => {
      const bad: Array<[string, unknown]> = [
        ["exclude not an array", { exclude: "node_modules" }],
        ["empty pattern", { exclude: [""] }],
        ["pattern with NUL", { exclude: ["a\0b"] }],
        ["pattern not a string", { exclude: [7] }],
        ["followSymlinks not boolean", { followSymlinks: "yes" }],
        ["signal not a signal", { signal: { aborted: false } }],
        ["options not an object", "fast"],
      ];
      for (const [why, options] of bad) {
        const given = options as DirectoryTransferOptions;
        expect(await codeOf(sandbox().uploadDirectory(source, remote("bad", "up"), given)), why).toBe(
          "invalid_argument",
        );
        expect(
          await codeOf(sandbox().downloadDirectory(remote("up", "tree"), join(local, "bad"), given)),
          why,
        ).toBe("invalid_argument");
      }
      expect(await codeOf(sandbox().uploadDirectory(source, "relative/dir"))).toBe("invalid_argument");
      expect(await codeOf(sandbox().uploadDirectory(source, "/"))).toBe("invalid_argument");
      expect(await codeOf(sandbox().uploadDirectory("", remote("bad", "up")))).toBe("invalid_argument");
      expect(await codeOf(sandbox().downloadDirectory("relative", join(local, "bad")))).toBe(
        "invalid_argument",
      );
      expect(await sandbox().exists(remote("bad"))).toBe(false);
      expect(existsSync(join(local, "bad"))).toBe(false);
    });

    it("does nothing for a signal that already fired", async () => {
      const signal = AbortSignal.abort();
      expect(await codeOf(sandbox().uploadDirectory(source, remote("aborted"), { signal }))).toBe("aborted");
      expect(
        await codeOf(sandbox().downloadDirectory(remote("up", "tree"), join(local, "ab"), { signal })),
      ).toBe("aborted");
      expect(await sandbox().exists(remote("aborted"))).toBe(false);
      expect(existsSync(join(local, "ab"))).toBe(false);
    });

    it("refuses a VM tree whose links lead outside localDir, unless links are followed", async () => {
      await sh(
        `mkdir -p ${remote("escape", "tree")} && cd ${remote("escape", "tree")} && echo in > f && ln -s /etc/hostname abs && ln -s ../../outside up`,
      );
      const target = join(local, "escape", "tree");
      expect(await codeOf(sandbox().downloadDirectory(remote("escape", "tree"), target))).toBe(
        "permission_denied",
      );
      // A missing target appears only complete: nothing of the refused tree is there.
      expect(existsSync(target)).toBe(false);
      expect(readdirSync(join(local, "escape"))).toEqual([]);
      await sh(`rm ${remote("escape", "tree", "up")}`);
      const followed = await sandbox().downloadDirectory(remote("escape", "tree"), target, {
        followSymlinks: true,
      });
      expect(followed.files).toBe(2);
      expect(lstatSync(join(target, "abs")).isFile()).toBe(true);
      expect(escapingLinks(target)).toEqual([]);
    });

    it("uploads a host link that points outside the tree as the same link", async () => {
      const tree = join(local, "outside-link");
      mkdirSync(tree);
      symlinkSync("/etc/hostname", join(tree, "abs"));
      expect(await sandbox().uploadDirectory(tree, remote("outside-link"))).toEqual({ files: 1, bytes: 0 });
      expect(await sh(`readlink ${remote("outside-link", "abs")}`)).toBe("/etc/hostname\n");
    });
  });
}
