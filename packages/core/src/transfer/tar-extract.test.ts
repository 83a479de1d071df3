import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { packDirectory } from "./host-tar.js";
import { extractTar } from "./tar-extract.js";

describe("extractTar", () => {
  let scratch: string;
  let source: string;
  let target: string;
  const archive = () => join(scratch, "a.tar");
  const tar = (...args: string[]) => execFileSync("tar", args, { cwd: source });

  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), "exedev-tar-test-"));
    source = join(scratch, "source");
    target = join(scratch, "target");
    mkdirSync(source);
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  it("unpacks files, directories, symlinks and long names from GNU and PAX archives", async () => {
    const deep = join("d".repeat(60), "e".repeat(60), "f".repeat(60));
    mkdirSync(join(source, deep), { recursive: true });
    writeFileSync(join(source, deep, "long-name.txt"), "deep\n");
    writeFileSync(join(source, "tool.sh"), "#!/bin/sh\n", { mode: 0o755 });
    symlinkSync("tool.sh", join(source, "alias"));
    for (const format of ["gnu", "pax"]) {
      rmSync(target, { recursive: true, force: true });
      tar(`--format=${format}`, "-cf", archive(), ".");
      const result = await extractTar(archive(), target);
      expect(result).toEqual({ files: 3, bytes: 15 });
      expect(readFileSync(join(target, deep, "long-name.txt"), "utf8")).toBe("deep\n");
      expect(statSync(join(target, "tool.sh")).mode & 0o777).toBe(0o755);
      expect(readlinkSync(join(target, "alias"))).toBe("tool.sh");
    }
  });

  it("copies hard links and drops setuid bits", async () => {
    writeFileSync(join(source, "one"), "same\n");
    execFileSync("ln", [join(source, "one"), join(source, "two")]);
    chmodSync(join(source, "one"), 0o4755);
    tar("-cf", archive(), "one", "two");
    expect(await extractTar(archive(), target)).toEqual({ files: 2, bytes: 5 });
    expect(readFileSync(join(target, "two"), "utf8")).toBe("same\n");
    expect(statSync(join(target, "one")).mode & 0o7777).toBe(0o755);
  });

  it("refuses members that leave the target", async () => {
    writeFileSync(join(source, "x"), "x");
    tar("-cf", archive(), "--transform=s,^,../,", "x");
    await expect(extractTar(archive(), target)).rejects.toThrow(/leaves the target directory: "..\/x"/);
    tar("-cPf", archive(), join(source, "x"));
    await expect(extractTar(archive(), target)).rejects.toThrow(/leaves the target directory/);
    expect(existsSync(join(scratch, "x"))).toBe(false);
  });

  it("refuses symlinks to outside the tree", async () => {
    symlinkSync("/etc/passwd", join(source, "abs"));
    tar("-cf", archive(), "abs");
    await expect(extractTar(archive(), target)).rejects.toThrow(/absolute target/);
    rmSync(join(source, "abs"));
    symlinkSync("../../outside", join(source, "up"));
    tar("-cf", archive(), "up");
    await expect(extractTar(archive(), target)).rejects.toThrow(/symlink target that leaves/);
  });

  it("stops between members when the signal fires", async () => {
    writeFileSync(join(source, "a"), "a");
    tar("-cf", archive(), "a");
    await expect(extractTar(archive(), target, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: "aborted",
    });
    expect(existsSync(join(target, "a"))).toBe(false);
  });

  it("never writes through a symlink, even one the archive made itself", async () => {
    mkdirSync(join(source, "real"));
    writeFileSync(join(source, "real", "payload"), "payload");
    symlinkSync("real", join(source, "link"));
    tar("-cf", archive(), "link");
    // Append a file whose path goes through the link: link/payload.
    tar("-rf", archive(), "--transform=s,^real,link,", "real/payload");
    await expect(extractTar(archive(), target)).rejects.toThrow(/through the symbolic link/);
    expect(lstatSync(join(target, "link")).isSymbolicLink()).toBe(true);
    expect(existsSync(join(target, "real"))).toBe(false);
  });

  it("replaces an existing file or symlink at a member's path instead of following it", async () => {
    mkdirSync(target);
    const victim = join(scratch, "victim");
    writeFileSync(victim, "untouched");
    symlinkSync(victim, join(target, "file"));
    writeFileSync(join(source, "file"), "new");
    tar("-cf", archive(), "file");
    await extractTar(archive(), target);
    expect(readFileSync(victim, "utf8")).toBe("untouched");
    expect(readFileSync(join(target, "file"), "utf8")).toBe("new");
  });

  it("rejects a corrupt or truncated archive with io_error", async () => {
    writeFileSync(archive(), Buffer.alloc(512, 7));
    await expect(extractTar(archive(), target)).rejects.toThrow(/Corrupt tar archive/);
    await expect(extractTar(archive(), target)).rejects.toMatchObject({ code: "io_error" });
    writeFileSync(join(source, "f"), "x".repeat(5000));
    tar("-cf", archive(), "f");
    writeFileSync(archive(), readFileSync(archive()).subarray(0, 2048));
    await expect(extractTar(archive(), target)).rejects.toMatchObject({ code: "io_error" });
  });
});

describe("packDirectory", () => {
  it("packs a directory's contents with excludes, and an empty directory as a valid archive", async () => {
    const scratch = mkdtempSync(join(tmpdir(), "exedev-tar-test-"));
    try {
      const source = join(scratch, "source");
      mkdirSync(join(source, "node_modules"), { recursive: true });
      writeFileSync(join(source, "keep.txt"), "keep");
      writeFileSync(join(source, "node_modules", "drop.js"), "drop");
      await packDirectory({ source, archive: join(scratch, "a.tar"), exclude: ["node_modules"] });
      expect(await extractTar(join(scratch, "a.tar"), join(scratch, "out"))).toEqual({ files: 1, bytes: 4 });
      mkdirSync(join(scratch, "empty"));
      await packDirectory({ source: join(scratch, "empty"), archive: join(scratch, "e.tar") });
      expect(await extractTar(join(scratch, "e.tar"), join(scratch, "out-empty"))).toEqual({
        files: 0,
        bytes: 0,
      });
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
