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
import { escapingLinks } from "@exedev-sandbox/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { extractTar } from "./tar-extract.js";
import { craftTar, type FixtureMember } from "./tar-fixture.js";

// Hostile archives as a VM could send them: link chains whose targets look harmless as text
// but leave the target once resolved, and writes that try to go through links.
describe("extractTar with hostile links", () => {
  let scratch: string;
  let target: string;
  let outside: string;

  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), "exedev-tar-links-"));
    // Two levels deep, so that a chain reaching one or two levels up lands in scratch.
    target = join(scratch, "host", "target");
    outside = join(scratch, "host", "known_hosts");
    mkdirSync(target, { recursive: true });
    writeFileSync(outside, "host key\n");
    writeFileSync(join(scratch, "secret"), "secret\n");
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  const extract = (members: FixtureMember[]) => {
    const archive = join(scratch, "a.tar");
    writeFileSync(archive, craftTar(members));
    return extractTar(archive, target);
  };
  /** What must hold whatever the archive held: no link leads out, nothing outside changed. */
  const confined = () => {
    expect(escapingLinks(target)).toEqual([]);
    expect(readFileSync(outside, "utf8")).toBe("host key\n");
    expect(readdirSync(join(scratch, "host")).sort()).toEqual(["known_hosts", "target"]);
    expect(readdirSync(scratch).sort()).toEqual(["a.tar", "host", "secret"]);
  };

  it("refuses a link through a link to . and then ..: s1 -> ., s2 -> s1/..", async () => {
    await expect(
      extract([
        { type: "symlink", name: "s1", target: "." },
        { type: "symlink", name: "s2", target: "s1/.." },
      ]),
    ).rejects.toThrow(/symlink target that leaves the target directory: "s2"/);
    confined();
    expect(readlinkSync(join(target, "s1"))).toBe(".");
  });

  it("refuses chains through several links", async () => {
    await expect(
      extract([
        { type: "symlink", name: "a", target: "." },
        { type: "symlink", name: "b", target: "a/a/a" },
        { type: "directory", name: "d" },
        { type: "symlink", name: "d/c", target: "../b/a/.." },
        { type: "symlink", name: "e", target: "d/c/../.." },
      ]),
    ).rejects.toThrow(/symlink target that leaves the target directory/);
    confined();
  });

  it("refuses a link whose .. follows a link the archive makes later", async () => {
    // At the time `up` is made, `x` does not exist and "x/.." reads as the root itself.
    await expect(
      extract([
        { type: "symlink", name: "up", target: "x/.." },
        { type: "symlink", name: "x", target: "." },
      ]),
    ).rejects.toThrow(/symlink target that leaves the target directory: "up"/);
    confined();
  });

  it("refuses .. through a link that points into a subdirectory", async () => {
    await expect(
      extract([
        { type: "directory", name: "sub" },
        { type: "symlink", name: "sub/top", target: ".." },
        { type: "symlink", name: "out", target: "sub/top/.." },
      ]),
    ).rejects.toThrow(/symlink target that leaves the target directory: "out"/);
    confined();
    expect(readlinkSync(join(target, "sub", "top"))).toBe("..");
  });

  it("refuses absolute targets, also in disguise", async () => {
    for (const absolute of ["/etc/passwd", "//etc", "/", `${scratch}/secret`]) {
      await expect(extract([{ type: "symlink", name: "abs", target: absolute }])).rejects.toThrow(
        /absolute target/,
      );
    }
    await expect(extract([{ type: "symlink", name: "up", target: "../known_hosts" }])).rejects.toThrow(
      /leaves the target directory/,
    );
    confined();
  });

  it("refuses a link that resolves outside through a link already in the target", async () => {
    // Left there by the host (or by an older, less careful extraction).
    symlinkSync(join(scratch, "host"), join(target, "host-link"));
    await expect(
      extract([{ type: "symlink", name: "via", target: "host-link/known_hosts" }]),
    ).rejects.toThrow(/symlink target that leaves the target directory: "via"/);
    expect(existsSync(join(target, "via"))).toBe(false);
  });

  it("refuses a link through a loop of links with a clear error", async () => {
    await expect(
      extract([
        { type: "symlink", name: "a", target: "b" },
        { type: "symlink", name: "b", target: "a" },
        { type: "symlink", name: "c", target: "a/x" },
      ]),
    ).rejects.toThrow(/symlink target that leaves the target directory: "c"/);
    confined();
  });

  it("never writes a file through a link, however the link was made", async () => {
    const attempts: FixtureMember[][] = [
      [
        { type: "directory", name: "sub" },
        { type: "symlink", name: "l", target: "sub" },
        { type: "file", name: "l/f", content: "through" },
      ],
      [
        { type: "symlink", name: "s1", target: "." },
        { type: "symlink", name: "s2", target: "s1/.." },
        { type: "file", name: "s2/known_hosts", content: "overwritten" },
      ],
      [
        { type: "symlink", name: "s1", target: "." },
        { type: "file", name: "s1/../known_hosts", content: "overwritten" },
      ],
      [
        { type: "symlink", name: "s1", target: "." },
        { type: "directory", name: "s1/../planted" },
      ],
    ];
    for (const members of attempts) {
      await expect(extract(members)).rejects.toThrow(/symbolic link|leaves the target directory/);
      confined();
      expect(existsSync(join(target, "sub", "f"))).toBe(false);
      rmSync(target, { recursive: true });
      mkdirSync(target);
    }
  });

  it("refuses to replace a directory with a link mid-archive, and keeps what is in it", async () => {
    await expect(
      extract([
        { type: "directory", name: "d" },
        { type: "file", name: "d/f", content: "first" },
        { type: "symlink", name: "d", target: "." },
        { type: "file", name: "d/f", content: "second" },
      ]),
    ).rejects.toThrow(/Refusing to replace the directory/);
    confined();
    expect(lstatSync(join(target, "d")).isDirectory()).toBe(true);
    expect(readFileSync(join(target, "d", "f"), "utf8")).toBe("first");
  });

  it("replaces a link with a directory and then writes into the real directory", async () => {
    await extract([
      { type: "symlink", name: "d", target: "." },
      { type: "directory", name: "d" },
      { type: "file", name: "d/f", content: "inside" },
    ]);
    confined();
    expect(lstatSync(join(target, "d")).isDirectory()).toBe(true);
    expect(readFileSync(join(target, "d", "f"), "utf8")).toBe("inside");
  });

  it("copies hard links only from regular files this archive wrote inside the target", async () => {
    const refused: FixtureMember[][] = [
      [{ type: "hardlink", name: "h", target: "../known_hosts" }],
      [{ type: "hardlink", name: "h", target: outside }],
      // A path through a link the archive made, to the file outside.
      [
        { type: "symlink", name: "s1", target: "." },
        { type: "hardlink", name: "h", target: "s1/../known_hosts" },
      ],
      // A file that was later replaced by a link.
      [
        { type: "file", name: "x", content: "x" },
        { type: "directory", name: "sub" },
        { type: "file", name: "sub/y", content: "y" },
        { type: "symlink", name: "x", target: "sub/y" },
        { type: "hardlink", name: "h", target: "x" },
      ],
      // A name that exists only as a link.
      [
        { type: "symlink", name: "s1", target: "." },
        { type: "hardlink", name: "h", target: "s1" },
      ],
    ];
    for (const members of refused) {
      await expect(extract(members)).rejects.toThrow(/hard link|leaves the target directory/);
      confined();
      expect(existsSync(join(target, "h"))).toBe(false);
      rmSync(target, { recursive: true });
      mkdirSync(target);
    }
    expect(
      await extract([
        { type: "file", name: "x", content: "same" },
        { type: "hardlink", name: "h", target: "./x" },
      ]),
    ).toEqual({ files: 2, bytes: 4 });
    expect(readFileSync(join(target, "h"), "utf8")).toBe("same");
  });

  it("still unpacks the links real trees have", async () => {
    const result = await extract([
      { type: "directory", name: "node_modules" },
      { type: "directory", name: "node_modules/.bin" },
      { type: "directory", name: "node_modules/.pnpm" },
      { type: "directory", name: "node_modules/.pnpm/pkg" },
      { type: "file", name: "node_modules/.pnpm/pkg/cli.js", content: "cli" },
      { type: "symlink", name: "node_modules/pkg", target: ".pnpm/pkg" },
      { type: "symlink", name: "node_modules/.bin/cli", target: "../pkg/cli.js" },
      { type: "symlink", name: "node_modules/.bin/up", target: "../../README" },
      { type: "symlink", name: "here", target: "./node_modules/./pkg/" },
      { type: "symlink", name: "root", target: "." },
      { type: "symlink", name: "dangling", target: "not/yet" },
      { type: "file", name: "README", content: "readme" },
    ]);
    expect(result).toEqual({ files: 8, bytes: 9 });
    confined();
    expect(readFileSync(join(target, "node_modules", ".bin", "cli"), "utf8")).toBe("cli");
    expect(readFileSync(join(target, "node_modules", ".bin", "up"), "utf8")).toBe("readme");
    expect(readFileSync(join(target, "here", "cli.js"), "utf8")).toBe("cli");
  });

  it("skips devices and FIFOs, drops setuid and setgid bits, and gives refusals their codes", async () => {
    const result = await extract([
      { type: "chardev", name: "null", mode: 0o666 },
      { type: "blockdev", name: "disk", mode: 0o660 },
      { type: "fifo", name: "pipe", mode: 0o644 },
      { type: "file", name: "suid", content: "x", mode: 0o6755 },
      { type: "directory", name: "sgid-dir", mode: 0o2775 },
    ]);
    expect(result).toEqual({ files: 1, bytes: 1 });
    expect(readdirSync(target).sort()).toEqual(["sgid-dir", "suid"]);
    expect(lstatSync(join(target, "suid")).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(target, "sgid-dir")).mode & 0o7000).toBe(0);
    confined();
    const codeOf = (members: FixtureMember[]) =>
      extract(members).then(
        () => "resolved",
        (error: { code?: string }) => error.code,
      );
    expect(await codeOf([{ type: "file", name: "../x", content: "x" }])).toBe("permission_denied");
    expect(await codeOf([{ type: "file", name: "/abs", content: "x" }])).toBe("permission_denied");
    expect(await codeOf([{ type: "symlink", name: "l", target: "/etc" }])).toBe("permission_denied");
    expect(await codeOf([{ type: "hardlink", name: "h", target: "../known_hosts" }])).toBe(
      "permission_denied",
    );
    confined();
  });
});
