import { describeWithSshd, useScratchSandbox } from "@exedev-sandbox/testing";
import type { SandboxBackendProtocolV2 } from "deepagents";
import { beforeAll, expect, it } from "vitest";
import { createDeepAgentsBackend, type ExeDevDeepAgentsBackend } from "./index.js";
import { ReferenceSandbox as Reference } from "./reference-sandbox.js";

/** Listings in a comparable form: sorted, without times (BaseSandbox's are whole seconds). */
const entries = (files: { path: string; is_dir?: boolean }[] | undefined) =>
  (files ?? []).map(({ path, is_dir }) => `${path} ${is_dir}`).sort();

describeWithSshd("the backend against deepagents' BaseSandbox, on the same VM", () => {
  const vm = useScratchSandbox({ prefix: "parity" });
  let ours: ExeDevDeepAgentsBackend;
  let base: Reference;
  /** The same call on both backends: [ours, BaseSandbox's]. */
  const both = async <T>(call: (backend: SandboxBackendProtocolV2) => T | Promise<T>): Promise<[T, T]> => [
    await call(ours),
    await call(base),
  ];
  beforeAll(async () => {
    ours = createDeepAgentsBackend(vm.sandbox, { timeoutMs: 30_000 });
    base = new Reference(ours);
    await vm.sandbox.writeFile(`${vm.dir}/t/a.txt`, "one\ntwo needle\nthree\nfour needle\n");
    await vm.sandbox.writeFile(`${vm.dir}/t/sub/b.md`, "needle b\n");
    await vm.sandbox.writeFile(`${vm.dir}/t/sub/c.txt`, "nothing\n");
    await vm.sandbox.writeFile(`${vm.dir}/t/empty.txt`, "");
  });

  it("lists the same entries, and a missing path or a file as empty", async () => {
    const [mine, theirs] = await both((b) => b.ls(`${vm.dir}/t`));
    expect(entries(mine.files)).toEqual(entries(theirs.files));
    expect(entries(mine.files)).toContain(`${vm.dir}/t/sub/ true`);
    for (const path of [`${vm.dir}/nowhere`, `${vm.dir}/t/a.txt`]) {
      const [a, b] = await both((backend) => backend.ls(path));
      expect(a).toEqual({ files: [] });
      expect(b).toEqual(a);
    }
  });

  it("reads with the same page fields and the same errors", async () => {
    const [mine, theirs] = await both((b) => b.read(`${vm.dir}/t/a.txt`, 1, 2));
    const { content: mineText, ...mineFields } = mine;
    const { content: theirText, ...theirFields } = theirs;
    expect(mineFields).toEqual(theirFields);
    expect(mineFields).toMatchObject({ totalLines: 4, startLine: 2, endLine: 3, nextOffset: 3 });
    // The documented difference: raw lines here, awk-numbered lines there.
    expect(mineText).toBe("two needle\nthree");
    expect(theirText).toBe("     2\ttwo needle\n     3\tthree\n");
    for (const path of [`${vm.dir}/t/missing.txt`, `${vm.dir}/t/sub`]) {
      const [a, b] = await both((backend) => backend.read(path));
      expect(a).toEqual({ error: `File '${path}' not found` });
      expect(b).toEqual(a);
    }
    const [rawMine, rawTheirs] = await both((b) => b.readRaw(`${vm.dir}/t/missing.txt`));
    expect(rawMine).toEqual(rawTheirs);
  });

  it("writes, edits and deletes with the same results and error strings", async () => {
    const [written, writtenThere] = await both((b) => b.write(`${vm.dir}/t/sub`, "x"));
    expect(written).toEqual({ error: `Failed to write to ${vm.dir}/t/sub: is_directory` });
    expect(writtenThere).toEqual(written);
    const file = `${vm.dir}/w.txt`;
    for (const backend of [ours, base]) {
      expect(await backend.write(file, "x = 1\nx = 1\n")).toEqual({ path: file, filesUpdate: null });
      const results = [
        await backend.edit(`${vm.dir}/gone.txt`, "a", "b"),
        await backend.edit(file, "absent", "b"),
        await backend.edit(file, "x = 1", "x = 2"),
        await backend.edit(file, "x = 1", "x = 2", true),
      ];
      expect(results).toEqual([
        { error: `Error: File '${vm.dir}/gone.txt' not found` },
        { error: `String not found in file '${file}'` },
        { error: `Multiple occurrences found in '${file}'. Use replaceAll=true to replace all.` },
        { path: file, filesUpdate: null, occurrences: 2 },
      ]);
      expect(await vm.sandbox.readFile(file)).toBe("x = 2\nx = 2\n");
      expect(await backend.delete(file)).toEqual({ path: file, filesUpdate: null });
      expect(await backend.delete(file)).toEqual({ error: `Error: '${file}' not found` });
    }
  });

  it("greps the same matches, caps them the same way, and finds nothing under a missing path", async () => {
    const matchesOf = (result: { matches?: { path: string; line: number; text: string }[] | null }) =>
      (result.matches ?? []).map((m) => `${m.path}:${m.line}:${m.text}`).sort();
    const [mine, theirs] = await both((b) => b.grep("needle", `${vm.dir}/t`));
    expect(matchesOf(mine)).toEqual(matchesOf(theirs));
    expect(matchesOf(mine)).toHaveLength(3);
    const [byGlob, byGlobThere] = await both((b) => b.grep("needle", `${vm.dir}/t`, "*.md"));
    expect(matchesOf(byGlob)).toEqual([`${vm.dir}/t/sub/b.md:1:needle b`]);
    expect(matchesOf(byGlobThere)).toEqual(matchesOf(byGlob));
    const [capped, cappedThere] = await both((b) => b.grep("needle", `${vm.dir}/t/a.txt`, null, 1));
    expect(capped).toEqual(cappedThere);
    expect(capped).toMatchObject({ matches: [{ line: 2 }], truncated: true });
    const [missing, missingThere] = await both((b) => b.grep("needle", `${vm.dir}/nowhere`));
    expect(missing).toEqual({ matches: [] });
    expect(missingThere).toEqual(missing);
  });

  it("globs the same relative paths, and nothing under a missing path", async () => {
    for (const pattern of ["**/*.txt", "*", "sub/*", "**"]) {
      const [mine, theirs] = await both((b) => b.glob(pattern, `${vm.dir}/t`));
      expect(entries(mine.files), pattern).toEqual(entries(theirs.files));
      expect(mine.truncated).toBe(false);
    }
    const [missing, missingThere] = await both((b) => b.glob("*", `${vm.dir}/nowhere`));
    expect(missing).toEqual({ files: [], truncated: false });
    expect(missingThere).toEqual(missing);
  });

  it("differs on purpose past the end of a file (as deepagents' FilesystemBackend)", async () => {
    const [mine, theirs] = await both((b) => b.read(`${vm.dir}/t/a.txt`, 10, 5));
    expect(mine).toEqual({ error: "Line offset 10 exceeds file length (4 lines)" });
    expect(theirs).toEqual({ content: "", mimeType: "text/plain" });
  });
});
