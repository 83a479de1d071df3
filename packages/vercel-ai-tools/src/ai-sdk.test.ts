import { randomBytes } from "node:crypto";
import { connectSandbox } from "@exedev-sandbox/core";
import {
  defineAdapterContract,
  describeWithSshd,
  remainingProcesses,
  toolResultHarness,
  useScratchSandbox,
} from "@exedev-sandbox/testing";
import { generateText, jsonSchema, stepCountIs, type ToolSet, tool } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { createBashTool } from "bash-tool";
import { describe, expect, it } from "vitest";
import {
  createAiSdkSandbox,
  createExeDevTools,
  experimental_createAiSdkSandbox,
  toBashToolSandbox,
} from "./index.js";

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
};
const toolCall = (id: string, toolName: string, input: unknown) => ({
  content: [{ type: "tool-call" as const, toolCallId: id, toolName, input: JSON.stringify(input) }],
  finishReason: { unified: "tool-calls" as const, raw: undefined },
  usage,
  warnings: [],
});
const answer = (text: string) => ({
  content: [{ type: "text" as const, text }],
  finishReason: { unified: "stop" as const, raw: undefined },
  usage,
  warnings: [],
});

/** The tool-result outputs in the prompt of the mock model's `call`-th call (0-based), in order. */
function toolOutputsSeen(model: MockLanguageModelV4, call: number): Array<{ type: string; value: unknown }> {
  return (model.doGenerateCalls[call]?.prompt ?? [])
    .filter((message) => message.role === "tool")
    .flatMap((message) => message.content)
    .map((part) => (part as { output: { type: string; value: unknown } }).output);
}

/**
 * One tool call through the SDK's own loop: the mock model asks for `toolName`, generateText
 * validates the input, runs the tool with its abortSignal and shows the model the result.
 */
async function callThroughLoop(
  tools: ToolSet,
  toolName: string,
  input: unknown,
  abortSignal?: AbortSignal,
): Promise<{ output: { ok: boolean; text: string; [key: string]: unknown }; seen: string }> {
  const model = new MockLanguageModelV4({ doGenerate: [toolCall("c", toolName, input), answer("done")] });
  const result = await generateText({ model, tools, prompt: "go", stopWhen: stepCountIs(2), abortSignal });
  const toolResult = result.steps[0]?.toolResults[0];
  // A tool that throws (the sandbox itself failed) becomes the SDK's tool-error part: surface it.
  const toolError = result.steps[0]?.content.find((part) => part.type === "tool-error");
  if (!toolResult && toolError) throw toolError.error;
  if (!toolResult) throw new Error(`no tool result: ${JSON.stringify(result.steps[0]?.content)}`);
  const seen = toolOutputsSeen(model, 1)[0];
  return { output: toolResult.output, seen: String(seen?.value) };
}

describeWithSshd("AI SDK tools on OpenSSH", () => {
  defineAdapterContract("vercel-ai-tools (generateText tool loop)", {
    failures: "error-result",
    capabilities: { cwd: true, timeout: true, abort: true },
    async setup(machine) {
      // The tools reach the machine through a hop the machine-gone test can cut; checks go direct.
      const core = await connectSandbox(machine.connectOptions());
      const tools: ToolSet = createExeDevTools(core);
      const harness = toolResultHarness(async (name, input, signal) => {
        const { output, seen } = await callThroughLoop(tools, name, input, signal);
        return { result: output, modelText: seen };
      });
      return { harness, dispose: () => core.close() };
    },
  });

  describe("through the SDK's own loop, bash-tool and the sandbox session", () => {
    const vm = useScratchSandbox({ prefix: "ai" });

    it("runs a tool loop: writeFile, then bash cat, then an answer", async () => {
      const model = new MockLanguageModelV4({
        doGenerate: [
          toolCall("c1", "writeFile", { path: "notes/hello.txt", content: "hello from the model\n" }),
          toolCall("c2", "bash", { command: "cat notes/hello.txt" }),
          answer("The file says hello."),
        ],
      });
      const result = await generateText({
        model,
        tools: createExeDevTools(vm.sandbox, { cwd: vm.dir }),
        prompt: "go",
        stopWhen: stepCountIs(5),
      });
      expect(result.text).toBe("The file says hello.");
      expect(result.steps).toHaveLength(3);
      const toolResults = result.steps.flatMap((step) => step.toolResults);
      expect(toolResults.map((r) => [r.toolCallId, r.toolName])).toEqual([
        ["c1", "writeFile"],
        ["c2", "bash"],
      ]);
      expect(toolResults[0]?.output).toEqual({
        ok: true,
        text: `Wrote 21 bytes to ${vm.dir}/notes/hello.txt.`,
        path: `${vm.dir}/notes/hello.txt`,
        bytes: 21,
      });
      expect(toolResults[1]?.output).toMatchObject({
        ok: true,
        exitCode: 0,
        stdout: "hello from the model\n",
        stderr: "",
        timedOut: false,
      });
      expect(await vm.sandbox.readFile(`${vm.dir}/notes/hello.txt`)).toBe("hello from the model\n");
      // The model read the compact text, not the structured result.
      expect(toolOutputsSeen(model, 1)).toEqual([
        { type: "text", value: `Wrote 21 bytes to ${vm.dir}/notes/hello.txt.` },
      ]);
      expect(toolOutputsSeen(model, 2)[1]).toEqual({
        type: "text",
        value: "exit code: 0\nstdout:\nhello from the model\n",
      });
    });

    it("starts a background server in one step that bash reaches in the next, then stops it", async () => {
      const port = 20_000 + (randomBytes(2).readUInt16BE(0) % 20_000);
      await vm.sandbox.writeFile(`${vm.dir}/www/index.html`, "served\n");
      const tools = createExeDevTools(vm.sandbox, { cwd: vm.dir });
      const model = new MockLanguageModelV4({
        doGenerate: [
          toolCall("s", "startProcess", {
            command: `exec python3 -m http.server ${port} --bind 127.0.0.1`,
            cwd: "www",
            waitForPort: port,
          }),
          toolCall("b", "bash", { command: `curl -sS http://127.0.0.1:${port}/index.html` }),
          answer("up"),
        ],
      });
      const result = await generateText({ model, tools, prompt: "go", stopWhen: stepCountIs(5) });
      const [started, curled] = result.steps.flatMap((step) => step.toolResults).map((r) => r.output);
      expect(started).toMatchObject({ ok: true, running: true, ready: true });
      expect(curled).toMatchObject({ ok: true, exitCode: 0, stdout: "served\n" });
      const id = (started as { id: string }).id;
      // The model read the id in the text, and uses it in a later call of its own.
      expect(String(toolOutputsSeen(model, 1)[0]?.value)).toContain(`id: ${id}`);
      // The request's log line travels VM log → host → client after curl got its answer: wait for it.
      const { output: log } = await callThroughLoop(tools, "processOutput", {
        id,
        waitMs: 10_000,
        waitForText: "GET /index.html",
      });
      expect(log).toMatchObject({ ok: true, running: true });
      expect(String(log.stderr)).toContain("GET /index.html");
      const { output: stopped, seen } = await callThroughLoop(tools, "stopProcess", { id });
      expect(stopped).toMatchObject({ ok: true, running: false, exitCode: 143 });
      expect(seen).toContain("exited, code 143");
      expect(await remainingProcesses(vm.sandbox, `http.server ${port}`)).toBe("");
    });

    it("hands a missing file, a failed edit and a timeout to the model as readable errors, and goes on", async () => {
      await vm.sandbox.writeFile(`${vm.dir}/code.py`, "x = 1\nx = 1\n");
      const tag = `8${randomBytes(3).readUIntBE(0, 3)}.5`;
      const model = new MockLanguageModelV4({
        doGenerate: [
          toolCall("e1", "readFile", { path: "missing.py" }),
          toolCall("e2", "editFile", { path: "code.py", oldString: "x = 1", newString: "x = 2" }),
          toolCall("e3", "bash", { command: `sleep ${tag}`, timeoutMs: 500 }),
          answer("handled"),
        ],
      });
      const result = await generateText({
        model,
        tools: createExeDevTools(vm.sandbox, { cwd: vm.dir }),
        prompt: "go",
        stopWhen: stepCountIs(6),
      });
      expect(result.text).toBe("handled");
      expect(model.doGenerateCalls).toHaveLength(4);
      // Each next call's prompt ends with the error the previous tool call produced.
      expect(toolOutputsSeen(model, 1).at(-1)).toEqual({
        type: "error-text",
        value: expect.stringMatching(/^Error \(not_found\): .*missing\.py/),
      });
      expect(toolOutputsSeen(model, 2).at(-1)).toEqual({
        type: "error-text",
        value: `Error: oldString appears 2 times in ${vm.dir}/code.py; add surrounding lines to make it unique, or set replaceAll.`,
      });
      // A timeout is a normal result with exit code 124, which the model is told about.
      expect(toolOutputsSeen(model, 3).at(-1)).toEqual({
        type: "text",
        value: "exit code: 124 (timed out, command killed)\n(no output)",
      });
      const outputs = result.steps.flatMap((step) =>
        step.toolResults.flatMap((r) => (r.dynamic ? [] : [r.output])),
      );
      expect(outputs.map((o) => o.ok)).toEqual([false, false, true]);
      expect(outputs[0]).toMatchObject({ code: "not_found" });
      expect(outputs[1]).toMatchObject({ code: "tool_error" });
      expect(outputs[2]).toMatchObject({ exitCode: 124, timedOut: true });
      expect(await vm.sandbox.readFile(`${vm.dir}/code.py`)).toBe("x = 1\nx = 1\n"); // the ambiguous edit changed nothing
      expect(await remainingProcesses(vm.sandbox, `sleep ${tag}`)).toBe("");
    });

    it("kills the remote command when generateText is aborted", async () => {
      const tag = `5${randomBytes(3).readUIntBE(0, 3)}.5`;
      const controller = new AbortController();
      const model = new MockLanguageModelV4({
        doGenerate: [toolCall("a1", "bash", { command: `sleep ${tag}` }), answer("never")],
      });
      setTimeout(() => controller.abort(), 700);
      const started = performance.now();
      await expect(
        generateText({
          model,
          tools: createExeDevTools(vm.sandbox),
          prompt: "go",
          stopWhen: stepCountIs(3),
          abortSignal: controller.signal,
        }),
      ).rejects.toBeDefined();
      expect(performance.now() - started).toBeLessThan(30_000); // long before `sleep` would end
      expect(model.doGenerateCalls).toHaveLength(1);
      expect(await remainingProcesses(vm.sandbox, `sleep ${tag}`)).toBe("");
    });

    it("reports an infrastructure failure as the SDK's tool error, which the model also reads", async () => {
      const doomed = await connectSandbox(vm.server.connectOptions());
      const tools = createExeDevTools(doomed);
      await doomed.close();
      const model = new MockLanguageModelV4({
        doGenerate: [toolCall("x1", "bash", { command: "echo hi" }), answer("stopping")],
      });
      const result = await generateText({ model, tools, prompt: "go", stopWhen: stepCountIs(3) });
      const failed = result.steps[0]?.content.find((part) => part.type === "tool-error");
      expect(failed?.error).toMatchObject({ name: "SandboxError", code: "closed" });
      expect(toolOutputsSeen(model, 1)).toEqual([
        { type: "error-text", value: expect.stringContaining("closed") },
      ]);
    });

    it("offers only the tools asked for, and refuses bad options", () => {
      expect(Object.keys(createExeDevTools(vm.sandbox, { tools: ["readFile", "listFiles"] }))).toEqual([
        "readFile",
        "listFiles",
      ]);
      expect(Object.keys(createExeDevTools(vm.sandbox))).toEqual([
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
      expect(() => createExeDevTools(vm.sandbox, { tools: ["rm" as never] })).toThrow(/unknown tool "rm"/);
      expect(() => createExeDevTools(vm.sandbox, { cwd: "relative" })).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
      expect(() => createExeDevTools(vm.sandbox, { defaultTimeoutMs: 0 })).toThrow(/defaultTimeoutMs/);
    });

    it("drives bash-tool through toBashToolSandbox", async () => {
      const adapted = toBashToolSandbox(vm.sandbox);
      expect("exec" in adapted).toBe(false); // bash-tool would take it for just-bash
      const destination = `${vm.dir}/workspace`;
      const { tools } = await createBashTool({
        sandbox: adapted,
        destination,
        files: { "seed.txt": "seeded\n", "deep/dir/seed.txt": "deep\n" },
        promptOptions: { toolPrompt: "bash on an exe.dev VM" },
      });
      expect(await vm.sandbox.readFile(`${destination}/deep/dir/seed.txt`)).toBe("deep\n");
      const options = { toolCallId: "b", messages: [], context: {} };
      expect(
        await tools.writeFile.execute!({ path: "made.txt", content: "made by bash-tool\n" }, options),
      ).toEqual({ success: true });
      const ran = await tools.bash.execute!({ command: "pwd; cat seed.txt made.txt; exit 4" }, options);
      expect(ran).toMatchObject({
        exitCode: 4,
        stdout: `${destination}\nseeded\nmade by bash-tool\n`,
        stderr: "",
      });
      expect(await tools.readFile.execute!({ path: "made.txt" }, options)).toEqual({
        content: "made by bash-tool\n",
      });
      await expect(tools.readFile.execute!({ path: "nope.txt" }, options)).rejects.toMatchObject({
        code: "not_found",
      });

      // And in the SDK's loop, as a model would use it.
      const model = new MockLanguageModelV4({
        doGenerate: [toolCall("b1", "bash", { command: "wc -c < made.txt" }), answer("18 bytes")],
      });
      const result = await generateText({ model, tools, prompt: "go", stopWhen: stepCountIs(3) });
      expect(result.steps[0]?.toolResults[0]?.output).toMatchObject({ exitCode: 0, stdout: "18\n" });
    });

    it("gives bash-tool commands a deadline, since bash-tool passes none", async () => {
      const tag = `9${randomBytes(3).readUIntBE(0, 3)}.5`;
      const adapted = toBashToolSandbox(vm.sandbox, { timeoutMs: 500 });
      const result = await adapted.executeCommand(`echo started; sleep ${tag}`);
      expect(result).toEqual({
        exitCode: 124,
        stdout: "started\n",
        stderr: "\n[command timed out after 500 ms and was killed]\n",
      });
      expect(await remainingProcesses(vm.sandbox, `sleep ${tag}`)).toBe("");
      expect(() => toBashToolSandbox(vm.sandbox, { timeoutMs: -1 })).toThrow(/timeoutMs/);
    });

    it("implements the AI SDK's sandbox session: files", async () => {
      expect(experimental_createAiSdkSandbox).toBe(createAiSdkSandbox);
      const session = createAiSdkSandbox(vm.sandbox, { cwd: vm.dir });
      expect(session.description).toContain(vm.dir);

      await session.writeTextFile({ path: "s/a.txt", content: "one\ntwo\nthree" });
      expect(await vm.sandbox.readFile(`${vm.dir}/s/a.txt`)).toBe("one\ntwo\nthree");
      expect(await session.readTextFile({ path: "s/a.txt" })).toBe("one\ntwo\nthree");
      expect(await session.readTextFile({ path: "s/a.txt", startLine: 2, endLine: 2 })).toBe("two");
      expect(await session.readTextFile({ path: "s/a.txt", startLine: 2, endLine: 99 })).toBe("two\nthree");
      await session.writeTextFile({ path: "s/crlf.txt", content: "a\r\nb\r\nc" });
      expect(await session.readTextFile({ path: "s/crlf.txt", endLine: 2 })).toBe("a\r\nb");
      await session.writeTextFile({ path: "s/latin1.txt", content: "café", encoding: "latin1" });
      expect(Buffer.from(await vm.sandbox.readFileBuffer(`${vm.dir}/s/latin1.txt`))).toEqual(
        Buffer.from([0x63, 0x61, 0x66, 0xe9]),
      );
      expect(await session.readTextFile({ path: "s/latin1.txt", encoding: "latin1" })).toBe("café");
      await expect(
        session.writeTextFile({ path: "s/x.txt", content: "x", encoding: "klingon" }),
      ).rejects.toMatchObject({ code: "invalid_argument" });

      const bytes = randomBytes(200_000);
      await session.writeBinaryFile({ path: `${vm.dir}/s/b.bin`, content: bytes });
      expect(Buffer.from((await session.readBinaryFile({ path: "s/b.bin" })) ?? [])).toEqual(bytes);
      await session.writeFile({ path: "s/c.bin", content: new Blob([bytes]).stream() });
      const streamed = await session.readFile({ path: "s/c.bin" });
      expect(Buffer.from(await new Response(streamed).arrayBuffer())).toEqual(bytes);

      expect(await session.stat({ path: "s/a.txt" })).toEqual({ type: "file", size: 13 });
      expect(await session.stat({ path: "s" })).toMatchObject({ type: "directory" });
      expect(await session.stat({ path: "/dev/null" })).toMatchObject({ type: "other" });
      const entries = (await session.listDirectory({ path: "s" })) ?? [];
      expect(entries.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { name: "a.txt", type: "file" },
        { name: "b.bin", type: "file" },
        { name: "c.bin", type: "file" },
        { name: "crlf.txt", type: "file" },
        { name: "latin1.txt", type: "file" },
      ]);
      await expect(session.listDirectory({ path: "s/a.txt" })).rejects.toBeDefined();

      // A missing path is null (or false), never an error.
      for (const read of [session.readFile, session.readBinaryFile, session.readTextFile, session.stat]) {
        expect(await read({ path: "nope" })).toBeNull();
      }
      expect(await session.listDirectory({ path: "nope" })).toBeNull();
      expect(await session.deleteFile({ path: "s/a.txt" })).toBe(true);
      expect(await session.deleteFile({ path: "s/a.txt" })).toBe(false);
      await expect(session.deleteFile({ path: "s" })).rejects.toMatchObject({ code: "is_a_directory" });

      // A link is deleted itself, never its target.
      await vm.sandbox.exec(
        `ln -s ${vm.dir}/s/b.bin ${vm.dir}/s/link && ln -s ${vm.dir}/s ${vm.dir}/dirlink`,
      );
      expect(await session.stat({ path: "s/link" })).toEqual({ type: "file", size: 200_000 });
      expect((await session.listDirectory({ path: "s" }))?.find((e) => e.name === "link")?.type).toBe(
        "symlink",
      );
      expect(await session.deleteFile({ path: "s/link" })).toBe(true);
      expect(await session.deleteFile({ path: "dirlink" })).toBe(true);
      expect(await vm.sandbox.exists(`${vm.dir}/s/b.bin`)).toBe(true);

      // An abort signal that has fired rejects with its reason, before any I/O.
      const aborted = AbortSignal.abort(new Error("stop"));
      await expect(session.readTextFile({ path: "s/b.bin", abortSignal: aborted })).rejects.toThrow("stop");
      await expect(
        session.writeTextFile({ path: "s/never.txt", content: "x", abortSignal: aborted }),
      ).rejects.toThrow("stop");
      expect(await vm.sandbox.exists(`${vm.dir}/s/never.txt`)).toBe(false);
    });

    it("streams readFile and writeFile through core's streams: old content kept on a failed or aborted stream", async () => {
      const session = createAiSdkSandbox(vm.sandbox, { cwd: vm.dir });
      const file = `${vm.dir}/streams/target.bin`;
      await vm.sandbox.writeFile(file, "old");
      // A content stream that fails midway: the write rejects, the old file stays whole.
      let sent = 0;
      const failing = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 4) controller.enqueue(randomBytes(256 * 1024));
          else controller.error(new Error("source broke"));
        },
      });
      await expect(session.writeFile({ path: "streams/target.bin", content: failing })).rejects.toThrow(
        "source broke",
      );
      expect(await vm.sandbox.readFile(file)).toBe("old");
      // A content stream that never ends, aborted: rejects with the reason, old file kept.
      const controller = new AbortController();
      const endless = new ReadableStream<Uint8Array>({
        pull: (c) => c.enqueue(new Uint8Array(64 * 1024)),
      });
      const reason = new Error("stop writing");
      setTimeout(() => controller.abort(reason), 300);
      await expect(
        session.writeFile({ path: "streams/target.bin", content: endless, abortSignal: controller.signal }),
      ).rejects.toBe(reason);
      expect(await vm.sandbox.readFile(file)).toBe("old");
      expect((await vm.sandbox.readdir(`${vm.dir}/streams`)).map((e) => e.name)).toEqual(["target.bin"]);
      // readFile hands out a stream that is read as it goes; cancelling it is fine.
      const data = randomBytes(8 * 1024 * 1024);
      await vm.sandbox.writeFile(file, data);
      const stream = await session.readFile({ path: "streams/target.bin" });
      const reader = (stream as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      expect(first.done).toBe(false);
      expect(first.value?.length).toBeLessThan(data.length);
      expect(Buffer.from(first.value ?? []).equals(data.subarray(0, first.value?.length))).toBe(true);
      await reader.cancel();
      expect(await session.readTextFile({ path: "streams/target.bin", endLine: 0 })).toBe("");
    });

    it("implements the AI SDK's sandbox session: run and spawn", async () => {
      const session = createAiSdkSandbox(vm.sandbox, { cwd: vm.dir });
      await vm.sandbox.mkdir(`${vm.dir}/r`, { recursive: true });
      expect(await session.run({ command: "pwd; echo $X; echo e >&2; exit 2", env: { X: "y z" } })).toEqual({
        exitCode: 2,
        stdout: `${vm.dir}\ny z\n`,
        stderr: "e\n",
      });
      expect((await session.run({ command: "pwd", workingDirectory: "r" })).stdout).toBe(`${vm.dir}/r\n`);
      expect((await session.run({ command: "pwd", workingDirectory: "/tmp" })).stdout).toBe("/tmp\n");

      const runTag = `4${randomBytes(3).readUIntBE(0, 3)}.5`;
      const reason = new Error("run aborted");
      const controller = new AbortController();
      setTimeout(() => controller.abort(reason), 500);
      await expect(session.run({ command: `sleep ${runTag}`, abortSignal: controller.signal })).rejects.toBe(
        reason,
      );
      expect(await remainingProcesses(vm.sandbox, `sleep ${runTag}`)).toBe("");

      const process = await session.spawn({ command: "echo out; echo err >&2; exit 3", env: { A: "1" } });
      const [out, err, status] = await Promise.all([
        new Response(process.stdout).text(),
        new Response(process.stderr).text(),
        process.wait(),
      ]);
      expect({ out, err, status }).toEqual({ out: "out\n", err: "err\n", status: { exitCode: 3 } });

      // kill() ends the process like SIGKILL would locally: wait() resolves with 137.
      const killTag = `3${randomBytes(3).readUIntBE(0, 3)}.5`;
      const long = await session.spawn({ command: `echo up; sleep ${killTag}` });
      const reader = long.stdout.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe("up\n");
      await long.kill();
      await long.kill(); // idempotent
      expect(await long.wait()).toEqual({ exitCode: 137 });
      expect((await reader.read()).done).toBe(true);
      expect(await remainingProcesses(vm.sandbox, `sleep ${killTag}`)).toBe("");

      // The caller's abortSignal kills too, and wait() rejects with its reason.
      const abortTag = `2${randomBytes(3).readUIntBE(0, 3)}.5`;
      const abort = new AbortController();
      const spawned = await session.spawn({ command: `sleep ${abortTag}`, abortSignal: abort.signal });
      await spawned.stdout.cancel(); // a consumer that stops reading does not break the process
      setTimeout(() => abort.abort(reason), 300);
      await expect(spawned.wait()).rejects.toBe(reason);
      expect(await remainingProcesses(vm.sandbox, `sleep ${abortTag}`)).toBe("");

      // Without stdin: true, stdin is closed: cat ends at once.
      const closedIn = await session.spawn({ command: "cat; echo eof-seen" });
      expect(await new Response(closedIn.stdout).text()).toBe("eof-seen\n");
      expect(await closedIn.wait()).toEqual({ exitCode: 0 });
    });

    it("gives spawn live stdin: a cat round trip, line by line, then end of file", async () => {
      const session = createAiSdkSandbox(vm.sandbox, { cwd: vm.dir });
      const cat = await session.spawn({ command: "cat; echo closed >&2", stdin: true });
      expect(cat.pid).toEqual(expect.any(Number));
      const writer = cat.stdin.getWriter();
      const reader = cat.stdout.getReader();
      const readUntil = async (wanted: string): Promise<string> => {
        let seen = "";
        while (!seen.includes(wanted)) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += new TextDecoder().decode(value);
        }
        return seen;
      };
      // Each line comes back while the process still runs: stdin is live, not collected up front.
      await writer.write(new TextEncoder().encode("first line\n"));
      expect(await readUntil("first line\n")).toBe("first line\n");
      await writer.write(new TextEncoder().encode("second\n"));
      expect(await readUntil("second\n")).toBe("second\n");
      await writer.close(); // EOF, without killing it
      expect(await new Response(cat.stderr).text()).toBe("closed\n");
      expect(await cat.wait()).toEqual({ exitCode: 0 });
      expect((await reader.read()).done).toBe(true);
    });

    it("reaches tools written against the SDK's sandbox interface through generateText", async () => {
      const probe = tool({
        description: "Runs uname in the sandbox.",
        inputSchema: jsonSchema<{ file: string }>({
          type: "object",
          properties: { file: { type: "string" } },
          required: ["file"],
        }),
        execute: async ({ file }, { experimental_sandbox: session }) => {
          if (!session) throw new Error("no sandbox");
          await session.writeTextFile({ path: file, content: "written by a sandbox-aware tool" });
          const { stdout } = await session.run({ command: `uname -s; cat ${file}` });
          return stdout;
        },
      });
      const model = new MockLanguageModelV4({
        doGenerate: [toolCall("p1", "probe", { file: "probe.txt" }), answer("done")],
      });
      const result = await generateText({
        model,
        tools: { probe },
        prompt: "go",
        stopWhen: stepCountIs(3),
        experimental_sandbox: createAiSdkSandbox(vm.sandbox, { cwd: vm.dir }),
      });
      expect(result.steps[0]?.toolResults[0]?.output).toBe("Linux\nwritten by a sandbox-aware tool");
      expect(await vm.sandbox.readFile(`${vm.dir}/probe.txt`)).toBe("written by a sandbox-aware tool");
    });
  });
});
