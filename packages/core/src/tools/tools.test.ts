import { describeWithSshd, useScratchSandbox } from "@exedev-sandbox/testing";
import { expect, it } from "vitest";
import { connectSandbox } from "../ssh/ssh-sandbox.js";
import { bashTool } from "./bash-tool.js";
import { editFileTool } from "./edit-file-tool.js";
import { listFilesTool } from "./list-files-tool.js";
import { readFileTool } from "./read-file-tool.js";
import { toolSpecs } from "./tool-specs.js";
import { writeFileTool } from "./write-file-tool.js";

describeWithSshd("framework-neutral tools on OpenSSH", () => {
  const vm = useScratchSandbox({ prefix: "tools", connectWith: connectSandbox });
  const ctx = () => ({ cwd: vm.dir });

  it("names every tool once, in both spellings, with a schema and a description", () => {
    expect(toolSpecs.map((t) => t.name)).toEqual([
      "bash",
      "readFile",
      "writeFile",
      "editFile",
      "listFiles",
      "startProcess",
      "processOutput",
      "stopProcess",
      "listProcesses",
      "previewUrl",
    ]);
    expect(toolSpecs.map((t) => t.snakeName)).toEqual([
      "bash",
      "read_file",
      "write_file",
      "edit_file",
      "list_files",
      "start_process",
      "process_output",
      "stop_process",
      "list_processes",
      "preview_url",
    ]);
    for (const tool of toolSpecs) expect(tool.description.length).toBeGreaterThan(40);
  });

  it("validates input with zod", () => {
    expect(bashTool.inputSchema.safeParse({ command: "" }).success).toBe(false);
    expect(bashTool.inputSchema.safeParse({ command: "ls", timeoutMs: -1 }).success).toBe(false);
    expect(readFileTool.inputSchema.safeParse({ path: "a", startLine: 5, endLine: 2 }).success).toBe(false);
    expect(editFileTool.inputSchema.safeParse({ path: "a", oldString: "", newString: "b" }).success).toBe(
      false,
    );
    expect(listFilesTool.inputSchema.safeParse({ depth: 9 }).success).toBe(false);
  });

  it("bash returns exit codes and streams, in the working directory", async () => {
    const result = await bashTool.run(vm.sandbox, { command: "pwd; echo oops >&2; exit 2" }, ctx());
    expect(result).toMatchObject({ ok: true, exitCode: 2, stdout: `${vm.dir}\n`, stderr: "oops\n" });
    expect(result.text).toContain("exit code: 2");
  });

  it("bash reports a timeout as a result and cuts long output with a marker", async () => {
    const slow = await bashTool.run(vm.sandbox, { command: "sleep 20", timeoutMs: 300 }, ctx());
    expect(slow).toMatchObject({ ok: true, exitCode: 124, timedOut: true });
    expect(slow.text).toContain("timed out");
    const long = await bashTool.run(
      vm.sandbox,
      { command: "seq 1 100000" },
      { ...ctx(), maxOutputChars: 2000 },
    );
    expect(long.ok && long.truncated).toBe(true);
    expect(long.text).toContain("characters truncated");
    expect(long.text).toMatch(/^exit code: 0\nstdout:\n1\n2\n/);
    expect(long.text.trimEnd().endsWith("100000")).toBe(true);
  });

  it("writes, reads whole files and line ranges, relative to the working directory", async () => {
    const written = await writeFileTool.run(
      vm.sandbox,
      { path: "src/a.txt", content: "one\ntwo\nthree\n" },
      ctx(),
    );
    expect(written).toMatchObject({ ok: true, path: `${vm.dir}/src/a.txt`, bytes: 14 });
    expect(await vm.sandbox.readFile(`${vm.dir}/src/a.txt`)).toBe("one\ntwo\nthree\n");
    expect(await readFileTool.run(vm.sandbox, { path: "src/a.txt" }, ctx())).toMatchObject({
      ok: true,
      content: "one\ntwo\nthree",
      totalLines: 3,
    });
    const part = await readFileTool.run(
      vm.sandbox,
      { path: `${vm.dir}/src/a.txt`, startLine: 2, endLine: 2 },
      ctx(),
    );
    expect(part).toMatchObject({ ok: true, content: "two", startLine: 2, endLine: 2 });
    expect(part.text).toContain("lines 2-2 of 3");
  });

  it("resolves .. in a model's path as the machine does: through links, not as text", async () => {
    await vm.sandbox.mkdir(`${vm.dir}/x/y`, { recursive: true });
    await vm.sandbox.exec(`ln -s x/y ${vm.dir}/ly`);
    const written = await writeFileTool.run(
      vm.sandbox,
      { path: "./ly/../via-link.txt", content: "v" },
      ctx(),
    );
    expect(written).toMatchObject({ ok: true, path: `${vm.dir}/ly/../via-link.txt` });
    // The shell's meaning: ly/.. is x, not the working directory.
    expect((await vm.sandbox.exec(`cat ly/../via-link.txt`, { cwd: vm.dir })).stdout).toBe("v");
    expect(await vm.sandbox.exists(`${vm.dir}/x/via-link.txt`)).toBe(true);
    expect(await vm.sandbox.exists(`${vm.dir}/via-link.txt`)).toBe(false);
  });

  it("gives the model readable errors for missing, binary and out-of-range files", async () => {
    const missing = await readFileTool.run(vm.sandbox, { path: "nope.txt" }, ctx());
    expect(missing).toMatchObject({ ok: false, code: "not_found" });
    expect(missing.text).toContain("nope.txt");
    await vm.sandbox.writeFile(`${vm.dir}/bin.dat`, new Uint8Array([0, 1, 2, 3]));
    expect(await readFileTool.run(vm.sandbox, { path: "bin.dat" }, ctx())).toMatchObject({
      ok: false,
      code: "tool_error",
    });
    expect(await readFileTool.run(vm.sandbox, { path: "src/a.txt", startLine: 50 }, ctx())).toMatchObject({
      ok: false,
    });
    expect(await writeFileTool.run(vm.sandbox, { path: vm.dir, content: "x" }, ctx())).toMatchObject({
      ok: false,
      code: "is_a_directory",
    });
  });

  it("edits exact text, and fails clearly when it is missing or ambiguous", async () => {
    await vm.sandbox.writeFile(`${vm.dir}/edit.ts`, "const a = 1;\nconst b = 1;\n");
    expect(
      await editFileTool.run(
        vm.sandbox,
        { path: "edit.ts", oldString: "const a = 1;", newString: "const a = 2;" },
        ctx(),
      ),
    ).toMatchObject({
      ok: true,
      replacements: 1,
    });
    expect(await vm.sandbox.readFile(`${vm.dir}/edit.ts`)).toBe("const a = 2;\nconst b = 1;\n");
    const ambiguous = await editFileTool.run(
      vm.sandbox,
      { path: "edit.ts", oldString: "= ", newString: "=" },
      ctx(),
    );
    expect(ambiguous).toMatchObject({ ok: false, code: "tool_error" });
    expect(ambiguous.text).toContain("appears 2 times");
    const missing = await editFileTool.run(
      vm.sandbox,
      { path: "edit.ts", oldString: "const c", newString: "x" },
      ctx(),
    );
    expect(missing.text).toContain("not found");
    expect(
      await editFileTool.run(
        vm.sandbox,
        { path: "edit.ts", oldString: "= ", newString: "=", replaceAll: true },
        ctx(),
      ),
    ).toMatchObject({
      ok: true,
      replacements: 2,
    });
    expect(await vm.sandbox.readFile(`${vm.dir}/edit.ts`)).toBe("const a =2;\nconst b =1;\n");
    // "$&" in newString is text, not a replacement pattern.
    await editFileTool.run(vm.sandbox, { path: "edit.ts", oldString: "a =2", newString: "a = '$&'" }, ctx());
    expect(await vm.sandbox.readFile(`${vm.dir}/edit.ts`)).toContain("a = '$&'");
    expect(
      await editFileTool.run(vm.sandbox, { path: "gone.ts", oldString: "a", newString: "b" }, ctx()),
    ).toMatchObject({
      ok: false,
      code: "not_found",
    });
  });

  it("lists a tree to a depth, without descending into node_modules", async () => {
    await vm.sandbox.writeFile(`${vm.dir}/tree/x/y/z.txt`, "z");
    await vm.sandbox.writeFile(`${vm.dir}/tree/node_modules/pkg/index.js`, "");
    await vm.sandbox.writeFile(`${vm.dir}/tree/top.txt`, "top");
    const shallow = await listFilesTool.run(vm.sandbox, { path: "tree", depth: 1 }, ctx());
    expect(shallow.ok && shallow.entries.map((e) => e.path)).toEqual(["node_modules", "top.txt", "x"]);
    const deep = await listFilesTool.run(vm.sandbox, { path: "tree", depth: 3 }, ctx());
    expect(deep.ok && deep.entries.map((e) => e.path)).toEqual([
      "node_modules",
      "top.txt",
      "x",
      "x/y",
      "x/y/z.txt",
    ]);
    expect(deep.text).toContain("top.txt (3 bytes)");
    expect(deep.text).toContain("x/y/");
  });

  it("throws infrastructure failures instead of handing them to the model", async () => {
    const closed = await connectSandbox(vm.server.connectOptions());
    await closed.close();
    await expect(bashTool.run(closed, { command: "true" })).rejects.toMatchObject({ code: "closed" });
  });
});
