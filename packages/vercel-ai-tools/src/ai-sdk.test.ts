import { randomBytes } from "node:crypto";
import { connectSandbox, type SshSandbox } from "@exedev-sandbox/core";
import {
  defineAdapterContract,
  describeWithSshd,
  remainingProcesses,
  type SshdServer,
  startSshd,
} from "@exedev-sandbox/testing";
import { generateText, stepCountIs } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { createBashTool } from "bash-tool";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAiSdkSandbox, createExeDevTools, toBashToolSandbox } from "./index.js";

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
/** The text of every tool result the mock model was shown, in order. */
function toolResultsSeen(model: MockLanguageModelV4): string[] {
  const last = model.doGenerateCalls.at(-1)?.prompt ?? [];
  return last
    .filter((message) => message.role === "tool")
    .flatMap((message) => message.content)
    .map((part) => JSON.stringify((part as { output?: unknown }).output));
}

describeWithSshd("AI SDK tools on OpenSSH", () => {
  defineAdapterContract("vercel-ai-tools (tool execute)", {
    failures: "error-result",
    capabilities: { cwd: true, timeout: true, abort: true },
    async setup() {
      const server = await startSshd();
      const sandbox = await connectSandbox(server.connectOptions());
      const tools = createExeDevTools(sandbox);
      const call = async (name: string, input: unknown, abortSignal?: AbortSignal) =>
        (await tools[name]!.execute!(
          input as never,
          { toolCallId: "t", messages: [], abortSignal, context: {} } as never,
        )) as {
          ok: boolean;
          text: string;
          [key: string]: unknown;
        };
      return {
        sandbox,
        harness: {
          exec: async (command, options) => {
            const result = await call(
              "bash",
              { command, cwd: options?.cwd, timeoutMs: options?.timeoutMs },
              options?.signal,
            );
            return {
              exitCode: result.exitCode as number,
              stdout: result.stdout as string,
              stderr: result.stderr as string,
            };
          },
          readFile: async (path) => {
            const result = await call("readFile", { path });
            return result.ok ? (result.content as string) : result.text;
          },
          writeFile: async (path, content) => {
            const result = await call("writeFile", { path, content });
            if (!result.ok) throw new Error(result.text);
          },
        },
        dispose: async () => {
          await sandbox.close();
          await server.stop();
        },
      };
    },
  });

  describe("through the SDK's own loop, bash-tool and the sandbox session", () => {
    let server: SshdServer;
    let sandbox: SshSandbox;
    let cwd: string;
    beforeAll(async () => {
      server = await startSshd();
      sandbox = await connectSandbox(server.connectOptions());
      cwd = `${sandbox.homeDir}/ai-${randomBytes(4).toString("hex")}`;
      await sandbox.mkdir(cwd);
    });
    afterAll(async () => {
      await sandbox?.rm(cwd, { recursive: true, force: true });
      await sandbox?.close();
      await server?.stop();
    });

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
        tools: createExeDevTools(sandbox, { cwd }),
        prompt: "go",
        stopWhen: stepCountIs(5),
      });
      expect(result.text).toBe("The file says hello.");
      const toolResults = result.steps.flatMap((step) => step.toolResults);
      expect(toolResults.map((r) => r.toolName)).toEqual(["writeFile", "bash"]);
      expect(toolResults[1]?.output).toMatchObject({
        ok: true,
        exitCode: 0,
        stdout: "hello from the model\n",
      });
      expect(await sandbox.readFile(`${cwd}/notes/hello.txt`)).toBe("hello from the model\n");
      expect(toolResultsSeen(model).at(-1)).toContain("hello from the model");
    });

    it("hands missing files, failed edits and timeouts to the model as readable errors, and goes on", async () => {
      await sandbox.writeFile(`${cwd}/code.py`, "x = 1\nx = 1\n");
      const model = new MockLanguageModelV4({
        doGenerate: [
          toolCall("e1", "readFile", { path: "missing.py" }),
          toolCall("e2", "editFile", { path: "code.py", oldString: "x = 1", newString: "x = 2" }),
          toolCall("e3", "bash", { command: "sleep 30", timeoutMs: 300 }),
          answer("handled"),
        ],
      });
      const result = await generateText({
        model,
        tools: createExeDevTools(sandbox, { cwd }),
        prompt: "go",
        stopWhen: stepCountIs(6),
      });
      expect(result.text).toBe("handled");
      const seen = toolResultsSeen(model);
      expect(seen[0]).toContain("not_found");
      expect(seen[0]).toContain("missing.py");
      expect(seen[1]).toContain("appears 2 times");
      expect(seen[2]).toContain("timed out");
      expect(await sandbox.readFile(`${cwd}/code.py`)).toBe("x = 1\nx = 1\n"); // the ambiguous edit changed nothing
    });

    it("kills a running command when generateText is aborted", async () => {
      const tag = `5${randomBytes(3).readUIntBE(0, 3)}.5`;
      const controller = new AbortController();
      const model = new MockLanguageModelV4({
        doGenerate: [toolCall("a1", "bash", { command: `sleep ${tag}` }), answer("never")],
      });
      setTimeout(() => controller.abort(), 500);
      await expect(
        generateText({
          model,
          tools: createExeDevTools(sandbox),
          prompt: "go",
          stopWhen: stepCountIs(3),
          abortSignal: controller.signal,
        }),
      ).rejects.toBeDefined();
      expect(await remainingProcesses(sandbox, `sleep ${tag}`)).toBe("");
    });

    it("offers only the tools asked for", () => {
      expect(Object.keys(createExeDevTools(sandbox, { tools: ["readFile", "listFiles"] }))).toEqual([
        "readFile",
        "listFiles",
      ]);
      expect(Object.keys(createExeDevTools(sandbox))).toEqual([
        "bash",
        "readFile",
        "writeFile",
        "editFile",
        "listFiles",
      ]);
    });

    it("drives bash-tool through toBashToolSandbox", async () => {
      const adapted = toBashToolSandbox(sandbox);
      expect("exec" in adapted).toBe(false); // bash-tool would take it for just-bash
      const destination = `${cwd}/workspace`;
      const { tools } = await createBashTool({
        sandbox: adapted,
        destination,
        files: { "seed.txt": "seeded\n" },
        promptOptions: { toolPrompt: "bash on an exe.dev VM" },
      });
      const options = { toolCallId: "b", messages: [], context: {} } as never;
      await tools.writeFile.execute!({ path: "made.txt", content: "made by bash-tool\n" } as never, options);
      const ran = (await tools.bash.execute!({ command: "cat seed.txt made.txt" } as never, options)) as {
        stdout: string;
        exitCode: number;
      };
      expect(ran.exitCode).toBe(0);
      expect(ran.stdout).toBe("seeded\nmade by bash-tool\n");
      const read = (await tools.readFile.execute!({ path: "made.txt" } as never, options)) as {
        content: string;
      };
      expect(read.content).toBe("made by bash-tool\n");
    });

    it("implements the AI SDK's sandbox session", async () => {
      const session = createAiSdkSandbox(sandbox, { cwd });
      expect(session.description).toContain(cwd);
      await session.writeTextFile({ path: "s/a.txt", content: "one\ntwo\nthree" });
      expect(await session.readTextFile({ path: "s/a.txt" })).toBe("one\ntwo\nthree");
      expect(await session.readTextFile({ path: "s/a.txt", startLine: 2, endLine: 9 })).toBe("two\nthree");
      const bytes = randomBytes(5000);
      await session.writeBinaryFile({ path: `${cwd}/s/b.bin`, content: bytes });
      expect(Buffer.from((await session.readBinaryFile({ path: "s/b.bin" }))!).equals(bytes)).toBe(true);
      await session.writeFile({ path: "s/c.bin", content: new Blob([bytes]).stream() });
      const streamed = await session.readFile({ path: "s/c.bin" });
      expect(Buffer.from(await new Response(streamed).arrayBuffer()).equals(bytes)).toBe(true);
      expect(await session.stat({ path: "s/a.txt" })).toEqual({ type: "file", size: 13 });
      expect(await session.stat({ path: "s" })).toMatchObject({ type: "directory" });
      expect(await session.stat({ path: "nope" })).toBeNull();
      expect(await session.readTextFile({ path: "nope" })).toBeNull();
      expect(await session.listDirectory({ path: "nope" })).toBeNull();
      expect(((await session.listDirectory({ path: "s" })) ?? []).map((e) => e.name).sort()).toEqual([
        "a.txt",
        "b.bin",
        "c.bin",
      ]);
      expect(await session.deleteFile({ path: "s/a.txt" })).toBe(true);
      expect(await session.deleteFile({ path: "s/a.txt" })).toBe(false);
      await expect(session.deleteFile({ path: "s" })).rejects.toMatchObject({ code: "is_a_directory" });
      expect(await session.run({ command: "pwd; echo $X", env: { X: "y" } })).toEqual({
        exitCode: 0,
        stdout: `${cwd}\ny\n`,
        stderr: "",
      });
      expect((await session.run({ command: "pwd", workingDirectory: "s" })).stdout).toBe(`${cwd}/s\n`);
      const process = await session.spawn({ command: "echo out; echo err >&2; exit 3" });
      const [out, err, status] = await Promise.all([
        new Response(process.stdout).text(),
        new Response(process.stderr).text(),
        process.wait(),
      ]);
      expect({ out, err, status }).toEqual({ out: "out\n", err: "err\n", status: { exitCode: 3 } });
      const long = await session.spawn({ command: "sleep 30" });
      await long.kill();
      await expect(long.wait()).rejects.toMatchObject({ code: "aborted" });
      await expect(session.spawn({ command: "cat", stdin: true })).rejects.toMatchObject({
        code: "invalid_argument",
      });
    });
  });
});
