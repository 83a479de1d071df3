import { randomBytes } from "node:crypto";
import { describeWithSshd, isRoot, UNPRIVILEGED_TEST_USER, useScratchSandbox } from "@exedev-sandbox/testing";
import { isSandboxBackend } from "deepagents";
import { beforeAll, describe, expect, it } from "vitest";
import { createDeepAgentsBackend, type ExeDevDeepAgentsBackend } from "./index.js";

// Names a shell would mangle if anything were pasted unquoted.
const TRICKY = ["sp ace.txt", "it's.txt", 'dq"uote.txt', "$HOME.txt", "semi;colon:name.txt", "-dash.txt"];

describeWithSshd("createDeepAgentsBackend on OpenSSH", () => {
  // Unprivileged, so permission errors are real (root may read and write anything).
  const vm = useScratchSandbox({ prefix: "da", sshd: isRoot() ? { username: UNPRIVILEGED_TEST_USER } : {} });
  let backend: ExeDevDeepAgentsBackend;
  beforeAll(() => {
    backend = createDeepAgentsBackend(vm.sandbox, { timeoutMs: 30_000 });
  });

  it("is a deepagents sandbox backend with an id", () => {
    expect(isSandboxBackend(backend)).toBe(true);
    expect(backend.id).toMatch(/^exedev-[0-9a-f]{12}$/);
    expect(createDeepAgentsBackend(vm.sandbox, { id: "vm-1" }).id).toBe("vm-1");
    for (const options of [{ id: "" }, { timeoutMs: -1 }, { maxOutputChars: 0 }]) {
      expect(() => createDeepAgentsBackend(vm.sandbox, options)).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
    }
  });

  describe("write and read", () => {
    it("writes text, creating parents and replacing an existing file", async () => {
      const path = `${vm.dir}/w/deep/notes.md`;
      expect(await backend.write(path, "first\n")).toEqual({ path, filesUpdate: null });
      expect(await backend.write(path, "héllo ✓\nsecond\n")).toEqual({ path, filesUpdate: null });
      expect(await vm.sandbox.readFile(path)).toBe("héllo ✓\nsecond\n");
    });

    it("reports write failures with the protocol's error values", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/w/plain`, "x");
      expect(await backend.write(`${vm.dir}/w`, "x")).toEqual({
        error: `Failed to write to ${vm.dir}/w: is_directory`,
      });
      expect(await backend.write(`${vm.dir}/w/plain/under.txt`, "x")).toEqual({
        error: `Failed to write to ${vm.dir}/w/plain/under.txt: invalid_path`,
      });
      expect(await backend.write("/etc/exedev-not-allowed.txt", "x")).toEqual({
        error: "Failed to write to /etc/exedev-not-allowed.txt: permission_denied",
      });
    });

    it("reads pages of lines: 0-based offset, limit, 1-based line fields, raw content", async () => {
      const path = `${vm.dir}/r/lines.py`;
      await vm.sandbox.writeFile(path, "one\ntwo\n\nfour\nfive\n");
      expect(await backend.read(path)).toEqual({
        content: "one\ntwo\n\nfour\nfive",
        mimeType: "text/plain",
        totalLines: 5,
        startLine: 1,
        endLine: 5,
      });
      expect(await backend.read(path, 1, 2)).toEqual({
        content: "two\n",
        mimeType: "text/plain",
        totalLines: 5,
        startLine: 2,
        endLine: 3,
        nextOffset: 3,
      });
      expect(await backend.read(path, 3, 500)).toMatchObject({
        content: "four\nfive",
        startLine: 4,
        endLine: 5,
      });
      // deepagents' normalisation: fractions round down, a negative offset reads from the start.
      expect(await backend.read(path, 1.9, 1.2)).toMatchObject({ content: "two", startLine: 2, endLine: 2 });
      expect(await backend.read(path, -4, 1)).toMatchObject({ content: "one", startLine: 1, nextOffset: 1 });
      expect(await backend.read(path, 0, 0)).toEqual({ content: "", mimeType: "text/plain" });
      expect(await backend.read(path, 5, 10)).toEqual({
        error: "Line offset 5 exceeds file length (5 lines)",
      });
    });

    it("counts a last line without a newline, keeps CR, and decodes UTF-8", async () => {
      const path = `${vm.dir}/r/odd.txt`;
      await vm.sandbox.writeFile(path, "α\r\nβ\r\nno newline");
      expect(await backend.read(path)).toMatchObject({
        content: "α\r\nβ\r\nno newline",
        totalLines: 3,
        endLine: 3,
      });
    });

    it("reads an empty file as deepagents' reminder, and missing files and directories as not found", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/r/empty.txt`, "");
      expect(await backend.read(`${vm.dir}/r/empty.txt`)).toEqual({
        content: "System reminder: File exists but has empty contents",
        mimeType: "text/plain",
      });
      expect(await backend.read(`${vm.dir}/r/missing.txt`)).toEqual({
        error: `File '${vm.dir}/r/missing.txt' not found`,
      });
      expect(await backend.read(`${vm.dir}/r`)).toEqual({ error: `File '${vm.dir}/r' not found` });
      expect(await backend.readRaw(`${vm.dir}/r/missing.txt`)).toEqual({
        error: `File '${vm.dir}/r/missing.txt' not found`,
      });
    });

    it("reports an unreadable file as such, not as missing", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/r/secret.txt`, "secret", { mode: 0o000 });
      const read = await backend.read(`${vm.dir}/r/secret.txt`);
      expect(read.error).toMatch(/^Error reading file '.*secret\.txt': /);
      expect(await backend.downloadFiles([`${vm.dir}/r/secret.txt`])).toEqual([
        { path: `${vm.dir}/r/secret.txt`, content: null, error: "permission_denied" },
      ]);
    });

    it("pages a large file on the machine, with the same numbering", async () => {
      const path = `${vm.dir}/r/big.log`;
      const line = (n: number): string => `line ${String(n).padStart(7, "0")} ${"x".repeat(40)}`;
      const count = 200_000; // about 10 MB, past the size read whole
      await vm.sandbox.writeFile(
        path,
        `${Array.from({ length: count }, (_, i) => line(i + 1)).join("\n")}\n`,
      );
      expect(await backend.read(path, 150_000, 3)).toEqual({
        content: [line(150_001), line(150_002), line(150_003)].join("\n"),
        mimeType: "text/plain",
        totalLines: count,
        startLine: 150_001,
        endLine: 150_003,
        nextOffset: 150_003,
      });
      expect(await backend.read(path, count - 1, 10)).toMatchObject({
        content: line(count),
        startLine: count,
        endLine: count,
      });
      expect((await backend.read(path, count - 1, 10)).nextOffset).toBeUndefined();
      expect(await backend.read(path, count, 10)).toEqual({
        error: `Line offset ${count} exceeds file length (${count} lines)`,
      });
    });

    it("reads raw file data: text as a string, with its MIME type and modification time", async () => {
      const before = Date.now() - 5000;
      await vm.sandbox.writeFile(`${vm.dir}/r/data.json`, '{"a":1}\n');
      const raw = await backend.readRaw(`${vm.dir}/r/data.json`);
      expect(raw.data).toMatchObject({ content: '{"a":1}\n', mimeType: "application/json" });
      const modified = Date.parse((raw.data as { modified_at: string }).modified_at);
      expect(modified).toBeGreaterThan(before);
    });
  });

  describe("binary files", () => {
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(70_000)]);

    it("uploads and downloads byte-exact, file by file", async () => {
      const uploads = await backend.uploadFiles([
        [`${vm.dir}/bin/all.bin`, bytes],
        [`${vm.dir}/bin/img.png`, bytes],
        [`${vm.dir}/bin`, bytes],
        [`${vm.dir}/bin/all.bin/under`, bytes],
        ["/etc/exedev-upload.bin", bytes],
      ]);
      expect(uploads).toEqual([
        { path: `${vm.dir}/bin/all.bin`, error: null },
        { path: `${vm.dir}/bin/img.png`, error: null },
        { path: `${vm.dir}/bin`, error: "is_directory" },
        { path: `${vm.dir}/bin/all.bin/under`, error: "invalid_path" },
        { path: "/etc/exedev-upload.bin", error: "permission_denied" },
      ]);
      expect(Buffer.from(await vm.sandbox.readFileBuffer(`${vm.dir}/bin/all.bin`)).equals(bytes)).toBe(true);

      const downloads = await backend.downloadFiles([
        `${vm.dir}/bin/all.bin`,
        `${vm.dir}/bin/nope.bin`,
        `${vm.dir}/bin`,
      ]);
      expect(Buffer.from(downloads[0]?.content as Uint8Array).equals(bytes)).toBe(true);
      expect(downloads.slice(1)).toEqual([
        { path: `${vm.dir}/bin/nope.bin`, content: null, error: "file_not_found" },
        { path: `${vm.dir}/bin`, content: null, error: "is_directory" },
      ]);
    });

    it("reads and writes binary types (by extension) as bytes and base64, as deepagents expects", async () => {
      const read = await backend.read(`${vm.dir}/bin/img.png`, 3, 1);
      expect(read.mimeType).toBe("image/png");
      expect(Buffer.from(read.content as Uint8Array).equals(bytes)).toBe(true);
      const raw = await backend.readRaw(`${vm.dir}/bin/img.png`);
      expect(Buffer.from(raw.data?.content as Uint8Array).equals(bytes)).toBe(true);

      expect(await backend.write(`${vm.dir}/bin/copy.pdf`, bytes.toString("base64"))).toMatchObject({
        path: `${vm.dir}/bin/copy.pdf`,
      });
      expect(Buffer.from(await vm.sandbox.readFileBuffer(`${vm.dir}/bin/copy.pdf`)).equals(bytes)).toBe(true);
      await backend.write(`${vm.dir}/bin/url.gif`, `data:image/gif;base64,${bytes.toString("base64")}`);
      expect(Buffer.from(await vm.sandbox.readFileBuffer(`${vm.dir}/bin/url.gif`)).equals(bytes)).toBe(true);
    });
  });

  describe("edit", () => {
    const file = (): string => `${vm.dir}/e/code.ts`;

    it("replaces one occurrence, refuses ambiguous or missing text, and counts replaceAll", async () => {
      await vm.sandbox.writeFile(file(), "let a = 1;\nlet b = 1;\nlet c = 2;\n", { mode: 0o750 });
      expect(await backend.edit(file(), "let c", "const c")).toEqual({
        path: file(),
        filesUpdate: null,
        occurrences: 1,
      });
      expect(await backend.edit(file(), "= 1", "= 9")).toEqual({
        error: `Multiple occurrences found in '${file()}'. Use replaceAll=true to replace all.`,
      });
      expect(await backend.edit(file(), "nothing here", "x")).toEqual({
        error: `String not found in file '${file()}'`,
      });
      expect(await backend.edit(file(), "= 1", "= $&", true)).toMatchObject({ occurrences: 2 });
      expect(await vm.sandbox.readFile(file())).toBe("let a = $&;\nlet b = $&;\nconst c = 2;\n");
      expect((await vm.sandbox.stat(file())).mode & 0o777).toBe(0o750);
    });

    it("counts non-overlapping occurrences, as deepagents does", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/e/a.txt`, "aaaaa");
      expect(await backend.edit(`${vm.dir}/e/a.txt`, "aa", "b", true)).toMatchObject({ occurrences: 2 });
      expect(await vm.sandbox.readFile(`${vm.dir}/e/a.txt`)).toBe("bba");
      expect(await backend.edit(`${vm.dir}/e/a.txt`, "b", "b", true)).toMatchObject({ occurrences: 2 });
    });

    it("fills an empty file from an empty oldString, and only an empty file", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/e/empty.txt`, "");
      expect(await backend.edit(`${vm.dir}/e/empty.txt`, "", "")).toMatchObject({ occurrences: 0 });
      expect(await backend.edit(`${vm.dir}/e/empty.txt`, "", "new\n")).toMatchObject({ occurrences: 1 });
      expect(await vm.sandbox.readFile(`${vm.dir}/e/empty.txt`)).toBe("new\n");
      expect(await backend.edit(`${vm.dir}/e/empty.txt`, "", "more")).toEqual({
        error: "oldString must not be empty unless the file is empty",
      });
    });

    it("reports a missing file in deepagents' words", async () => {
      expect(await backend.edit(`${vm.dir}/e/gone.ts`, "a", "b")).toEqual({
        error: `Error: File '${vm.dir}/e/gone.ts' not found`,
      });
    });
  });

  describe("ls, grep, glob", () => {
    let dir: string;
    beforeAll(async () => {
      dir = `${vm.dir}/s`;
      for (const name of TRICKY) await vm.sandbox.writeFile(`${dir}/${name}`, `needle in ${name}\nplain\n`);
      await vm.sandbox.writeFile(`${dir}/sub dir/deep/notes.md`, "a.b*c literal\nneedle: with colon\n");
      await vm.sandbox.writeFile(`${dir}/sub dir/keep.txt`, "needle\n");
      await vm.sandbox.writeFile(`${dir}/.hidden/x.txt`, "needle\n");
      await vm.sandbox.writeFile(`${dir}/pic.png`, "needle in an image\n");
      await vm.sandbox.writeFile(`${dir}/raw.dat`, Buffer.from("needle\0binary\n"));
      await vm.sandbox.exec(`ln -s ${JSON.stringify(`${dir}/sub dir`)} ${JSON.stringify(`${dir}/link`)}`);
    });

    it("lists one level, directories (and links to them) with a trailing slash", async () => {
      const listing = await backend.ls(dir);
      expect(listing.error).toBeUndefined();
      const byPath = new Map(listing.files?.map((f) => [f.path, f]));
      expect([...byPath.keys()].sort()).toEqual(
        [
          ...TRICKY.map((name) => `${dir}/${name}`),
          `${dir}/.hidden/`,
          `${dir}/link/`,
          `${dir}/pic.png`,
          `${dir}/raw.dat`,
          `${dir}/sub dir/`,
        ].sort(),
      );
      expect(byPath.get(`${dir}/sub dir/`)).toMatchObject({ is_dir: true });
      expect(byPath.get(`${dir}/it's.txt`)).toEqual({ path: `${dir}/it's.txt`, is_dir: false, size: 25 });
      expect((await backend.ls(`${dir}/sub dir/`)).files?.map((f) => f.path)).toEqual([
        `${dir}/sub dir/deep/`,
        `${dir}/sub dir/keep.txt`,
      ]);
    });

    it("lists a missing path or a file as empty (as BaseSandbox), an unreadable directory as an error", async () => {
      expect(await backend.ls(`${vm.dir}/nowhere`)).toEqual({ files: [] });
      expect(await backend.ls(`${dir}/raw.dat`)).toEqual({ files: [] });
      await vm.sandbox.exec(`mkdir -m 000 '${vm.dir}/locked'`);
      expect((await backend.ls(`${vm.dir}/locked`)).error).toMatch(/^Error listing '.*locked': /);
    });

    it("greps literally, with full paths, skipping binary files, whatever the file names", async () => {
      const result = await backend.grep("needle", dir);
      expect(result.error).toBeUndefined();
      const found = result.matches?.map((m) => `${m.path.slice(dir.length + 1)}:${m.line}:${m.text}`).sort();
      expect(found).toEqual(
        [
          ...TRICKY.map((name) => `${name}:1:needle in ${name}`),
          ".hidden/x.txt:1:needle",
          "link/deep/notes.md:2:needle: with colon",
          "link/keep.txt:1:needle",
          "sub dir/deep/notes.md:2:needle: with colon",
          "sub dir/keep.txt:1:needle",
        ].sort(),
      );
      const literal = (await backend.grep("a.b*c", dir)).matches?.map((m) => m.path).sort();
      expect(literal).toEqual([`${dir}/link/deep/notes.md`, `${dir}/sub dir/deep/notes.md`]);
      expect((await backend.grep("a.b.c", dir)).matches).toEqual([]);
    });

    it("never lets a pattern, a path or a glob reach the shell unquoted", async () => {
      const marker = `${vm.dir}/pwned`;
      for (const evil of [`$(touch ${marker})`, `'; touch ${marker}; '`, `\`touch ${marker}\``]) {
        expect((await backend.grep(evil, dir)).matches).toEqual([]);
        expect((await backend.grep("needle", dir, evil)).matches).toEqual([]);
        expect((await backend.glob(evil, dir)).files).toEqual([]);
        expect(await backend.grep("needle", `${dir}/${evil}`)).toEqual({ matches: [] });
      }
      expect(await vm.sandbox.exists(marker)).toBe(false);
      expect((await backend.grep("needle", `${dir}/-dash.txt`)).matches).toHaveLength(1);
    });

    it("filters grep by file name glob (with braces and **/), by path, and caps matches", async () => {
      const names = async (glob: string): Promise<string[]> =>
        ((await backend.grep("needle", dir, glob)).matches ?? [])
          .map((m) => m.path.slice(dir.length + 1))
          .sort();
      expect(await names("*.md")).toEqual(["link/deep/notes.md", "sub dir/deep/notes.md"]);
      expect(await names("**/*.md")).toEqual(["link/deep/notes.md", "sub dir/deep/notes.md"]);
      expect(await names("{keep,x}.txt")).toEqual([".hidden/x.txt", "link/keep.txt", "sub dir/keep.txt"]);
      expect(await names("sub dir/*.txt")).toEqual(["sub dir/keep.txt"]);
      expect(await names("it's.txt")).toEqual(["it's.txt"]);
      const trailing = await backend.grep("needle", `${dir}/`, "sub dir/*.txt");
      expect(trailing.matches?.map((m) => m.path)).toEqual([`${dir}/sub dir/keep.txt`]);

      const capped = await backend.grep("needle", dir, null, 2);
      expect(capped.matches).toHaveLength(2);
      expect(capped.truncated).toBe(true);
      expect((await backend.grep("needle", dir, "*.md", 5)).truncated).toBeUndefined();
    });

    it("greps a single file, and finds nothing for a multi-line pattern or a missing path", async () => {
      expect((await backend.grep("plain", `${dir}/it's.txt`)).matches).toEqual([
        { path: `${dir}/it's.txt`, line: 2, text: "plain" },
      ]);
      expect(await backend.grep("needle\nplain", dir)).toEqual({ matches: [] });
      expect(await backend.grep("needle", `${vm.dir}/nowhere`)).toEqual({ matches: [] });
    });

    it("globs relative paths, directories included, with *, **, ?, classes and braces", async () => {
      const paths = async (pattern: string, base = dir): Promise<string[]> => {
        const result = await backend.glob(pattern, base);
        expect(result.error).toBeUndefined();
        return (result.files ?? []).map((f) => f.path);
      };
      expect(await paths("*.txt")).toEqual([...TRICKY].sort());
      expect(await paths("**/*.md")).toEqual(["link/deep/notes.md", "sub dir/deep/notes.md"]);
      expect(await paths("sub dir/*")).toEqual(["sub dir/deep", "sub dir/keep.txt"]);
      expect(await paths("/sub dir/deep/*.md")).toEqual(["sub dir/deep/notes.md"]);
      expect(await paths("it?s.txt")).toEqual(["it's.txt"]);
      expect(await paths("[$-]*.txt")).toEqual(["$HOME.txt", "-dash.txt"]);
      expect(await paths("*.{png,dat}")).toEqual(["pic.png", "raw.dat"]);
      expect(await paths("**/x.txt")).toEqual([".hidden/x.txt"]);
      expect(await paths("notes.md", `${dir}/sub dir/deep`)).toEqual(["notes.md"]);

      const [deep] = (await backend.glob("sub dir/deep", dir)).files ?? [];
      expect(deep).toMatchObject({ path: "sub dir/deep", is_dir: true });
      const [notes] = (await backend.glob("**/notes.md", `${dir}/sub dir`)).files ?? [];
      expect(notes).toMatchObject({ path: "deep/notes.md", is_dir: false, size: 33 });
      expect(Date.parse(notes?.modified_at as string)).toBeGreaterThan(Date.now() - 600_000);
      expect(await backend.glob("*", `${vm.dir}/nowhere`)).toEqual({ files: [], truncated: false });
      expect(await backend.glob("*.none", dir)).toEqual({ files: [], truncated: false });
    });
  });

  describe("delete", () => {
    it("deletes files, directories recursively and links (not their targets)", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/d/tree/a/b.txt`, "b");
      await vm.sandbox.writeFile(`${vm.dir}/d/target.txt`, "t");
      await vm.sandbox.exec(`ln -s ${vm.dir}/d/target.txt ${vm.dir}/d/link.txt`);
      expect(await backend.delete(`${vm.dir}/d/link.txt`)).toEqual({
        path: `${vm.dir}/d/link.txt`,
        filesUpdate: null,
      });
      expect(await vm.sandbox.exists(`${vm.dir}/d/target.txt`)).toBe(true);
      expect(await backend.delete(`${vm.dir}/d/tree`)).toEqual({
        path: `${vm.dir}/d/tree`,
        filesUpdate: null,
      });
      expect(await vm.sandbox.exists(`${vm.dir}/d/tree`)).toBe(false);
      expect(await backend.delete(`${vm.dir}/d/tree`)).toEqual({
        error: `Error: '${vm.dir}/d/tree' not found`,
      });
      expect((await backend.delete(vm.sandbox.homeDir)).error).toMatch(/^Error deleting file/);
      expect(await vm.sandbox.exists(vm.dir)).toBe(true);
    });
  });

  describe("execute", () => {
    it("returns stdout and stderr interleaved, the exit code, and whether output was cut", async () => {
      const run = await backend.execute("echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2; exit 4");
      expect(run).toEqual({ output: "out1\nerr1\nout2\n", exitCode: 4, truncated: false });
      expect(await backend.execute(`cd ${JSON.stringify(`${vm.dir}`)} && pwd`)).toMatchObject({
        output: `${vm.dir}\n`,
      });
      expect((await backend.execute("pwd")).output).toBe(`${vm.sandbox.homeDir}\n`);
    });

    it("keeps the head and tail of long output", async () => {
      const small = createDeepAgentsBackend(vm.sandbox, { maxOutputChars: 1000 });
      const run = await small.execute("seq 1 100000");
      expect(run.truncated).toBe(true);
      expect(run.exitCode).toBe(0);
      expect(run.output.startsWith("1\n2\n3\n")).toBe(true);
      expect(run.output.endsWith("99999\n100000\n")).toBe(true);
      expect(run.output).toMatch(/\n\[\.\.\. \d+ characters cut \.\.\.\]\n/);
      expect(run.output.length).toBeLessThan(1100);
    });

    it("kills a command past timeoutMs: exit code 124 and a note", async () => {
      const quick = createDeepAgentsBackend(vm.sandbox, { timeoutMs: 2000 });
      const run = await quick.execute("echo started; sleep 30");
      expect(run.exitCode).toBe(124);
      expect(run.output).toBe("started\n\n[Command timed out after 2000 ms and was killed]");
    });

    it("resolves relative paths against the home directory", async () => {
      const relative = `${vm.dir.slice(vm.sandbox.homeDir.length + 1)}/rel/file.txt`;
      expect(await backend.write(relative, "rel")).toEqual({ path: relative, filesUpdate: null });
      expect(await vm.sandbox.readFile(`${vm.dir}/rel/file.txt`)).toBe("rel");
      expect((await backend.read(relative)).content).toBe("rel");
    });
  });
});
