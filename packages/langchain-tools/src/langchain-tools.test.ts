import { randomBytes } from "node:crypto";
import { connectSandbox, isSandboxError, type ToolResult } from "@exedev-sandbox/core";
import {
  defineAdapterContract,
  describeWithSshd,
  remainingProcesses,
  toolResultHarness,
  useScratchSandbox,
} from "@exedev-sandbox/testing";
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { fakeModel } from "@langchain/core/testing";
import { ToolInputParsingException } from "@langchain/core/tools";
import { convertToOpenAITool } from "@langchain/core/utils/function_calling";
import { createAgent, toolErrorMiddleware } from "langchain";
import { beforeAll, describe, expect, it } from "vitest";
import { createExeDevTools, type ExeDevTool } from "./index.js";

const byName = (tools: ExeDevTool[], name: string): ExeDevTool => {
  const found = tools.find((t) => t.name === name);
  if (!found) throw new Error(`no tool ${name}`);
  return found;
};

/** Core's tool names as LangChain spells them. */
const snakeNames = { bash: "bash", readFile: "read_file", writeFile: "write_file" } as const;

/** Invokes a tool the way agents do, with a tool call, and returns the ToolMessage. */
async function call(
  tool: ExeDevTool,
  args: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<ToolMessage & { artifact: ToolResult & Record<string, unknown> }> {
  const message = await tool.invoke(
    { type: "tool_call", id: `call-${tool.name}`, name: tool.name, args },
    { signal },
  );
  expect(message).toBeInstanceOf(ToolMessage);
  return message as ToolMessage & { artifact: ToolResult & Record<string, unknown> };
}

describeWithSshd("LangChain tools on OpenSSH", () => {
  defineAdapterContract("langchain-tools (tool.invoke)", {
    failures: "error-result",
    capabilities: { cwd: true, timeout: true, abort: true },
    async setup(machine) {
      // The tools reach the machine through a hop the machine-gone test can cut; checks go direct.
      const core = await connectSandbox(machine.connectOptions());
      const tools = createExeDevTools(core);
      const harness = toolResultHarness(async (name, input, signal) => {
        const message = await call(byName(tools, snakeNames[name]), input, signal);
        return { result: message.artifact, modelText: String(message.content) };
      });
      return { harness, dispose: () => core.close() };
    },
  });

  describe("tools", () => {
    const vm = useScratchSandbox({ prefix: "lc" });
    let tools: ExeDevTool[];
    beforeAll(() => {
      tools = createExeDevTools(vm.sandbox, { cwd: vm.dir });
    });

    it("offers core's tools under their snake_case names, or a subset by either spelling", () => {
      expect(tools.map((t) => t.name)).toEqual([
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
      const subset = createExeDevTools(vm.sandbox, { tools: ["list_files", "readFile"] });
      expect(subset.map((t) => t.name)).toEqual(["read_file", "list_files"]);
      // Core's descriptions name other tools canonically; LangChain models know the snake_case names.
      expect(byName(tools, "write_file").description).toContain("use edit_file instead");
    });

    it("rejects bad options with invalid_argument", () => {
      const bad = [
        { tools: ["cat" as never] },
        { cwd: "relative/dir" },
        { defaultTimeoutMs: 0 },
        { maxOutputChars: 1.5 },
      ];
      for (const options of bad) {
        expect(() => createExeDevTools(vm.sandbox, options)).toThrow(
          expect.objectContaining({ code: "invalid_argument" }),
        );
      }
    });

    it("gives providers a JSON schema for every tool", () => {
      const bash = convertToOpenAITool(byName(tools, "bash"));
      expect(bash.function.name).toBe("bash");
      expect(bash.function.parameters).toMatchObject({
        type: "object",
        properties: { command: { type: "string" }, cwd: { type: "string" }, timeoutMs: { type: "integer" } },
        required: ["command"],
      });
      const read = convertToOpenAITool(byName(tools, "read_file"));
      expect(Object.keys((read.function.parameters as { properties: object }).properties)).toEqual([
        "path",
        "startLine",
        "endLine",
      ]);
    });

    it("validates arguments with the schemas: ToolInputParsingException, in both invoke forms", async () => {
      const bad: Array<[string, Record<string, unknown>]> = [
        ["bash", { command: 42 }],
        ["bash", { command: "" }],
        ["bash", { command: "ls", timeoutMs: -5 }],
        ["read_file", { path: "a.txt", startLine: 5, endLine: 2 }],
        ["write_file", { path: "a.txt" }],
        ["edit_file", { path: "a.txt", oldString: "", newString: "x" }],
        ["list_files", { depth: 9 }],
      ];
      for (const [name, args] of bad) {
        const tool = byName(tools, name);
        await expect(tool.invoke(args), `${name} ${JSON.stringify(args)}`).rejects.toBeInstanceOf(
          ToolInputParsingException,
        );
        await expect(tool.invoke({ type: "tool_call", id: "bad", name, args })).rejects.toBeInstanceOf(
          ToolInputParsingException,
        );
      }
      expect(await vm.sandbox.exists(`${vm.dir}/a.txt`)).toBe(false);
    });

    it("returns the model's text for plain input, and a ToolMessage with the structured artifact for a tool call", async () => {
      expect(await byName(tools, "write_file").invoke({ path: "a.txt", content: "alpha\nbeta\n" })).toBe(
        `Wrote 11 bytes to ${vm.dir}/a.txt.`,
      );
      expect(await vm.sandbox.readFile(`${vm.dir}/a.txt`)).toBe("alpha\nbeta\n");

      const bash = await call(byName(tools, "bash"), { command: "cat a.txt; echo oops >&2; exit 3" });
      expect(bash).toMatchObject({ tool_call_id: "call-bash", name: "bash", status: "success" });
      expect(bash.content).toBe("exit code: 3\nstdout:\nalpha\nbeta\n\nstderr:\noops\n");
      expect(bash.artifact).toEqual({
        ok: true,
        text: bash.content,
        exitCode: 3,
        stdout: "alpha\nbeta\n",
        stderr: "oops\n",
        timedOut: false,
        truncated: false,
      });

      const read = await call(byName(tools, "read_file"), { path: "a.txt", startLine: 2, endLine: 2 });
      expect(read.artifact).toMatchObject({
        ok: true,
        content: "beta",
        startLine: 2,
        endLine: 2,
        totalLines: 2,
      });

      const edit = await call(byName(tools, "edit_file"), {
        path: "a.txt",
        oldString: "beta",
        newString: "gamma",
      });
      expect(edit.artifact).toMatchObject({ ok: true, replacements: 1 });
      expect(await vm.sandbox.readFile(`${vm.dir}/a.txt`)).toBe("alpha\ngamma\n");

      const list = await call(byName(tools, "list_files"), {});
      expect(list.content).toContain("a.txt (12 bytes)");
    });

    it("runs a background process across calls: start_process, bash, process_output, stop_process", async () => {
      const tag = `8${randomBytes(3).readUIntBE(0, 3)}.5`;
      const start = await call(byName(tools, "start_process"), {
        command: `echo listening; sleep ${tag}`,
        waitForText: "listening",
      });
      expect(start.artifact).toMatchObject({ ok: true, running: true, ready: true, stdout: "listening\n" });
      const id = String(start.artifact.id);
      expect(start.content).toContain(`id: ${id}`);
      // Core's descriptions name the other tools canonically; LangChain models read snake_case.
      expect(byName(tools, "start_process").description).toContain("process_output");
      const ps = await call(byName(tools, "bash"), {
        command: `ps -eo args= | grep -F 'sleep ${tag}' | grep -v grep`,
      });
      expect(ps.artifact).toMatchObject({ ok: true, exitCode: 0 });
      const listed = await call(byName(tools, "list_processes"), {});
      expect(listed.content).toContain(id);
      const quiet = await call(byName(tools, "process_output"), { id });
      expect(quiet.artifact).toMatchObject({ ok: true, running: true, stdout: "" });
      const stop = await call(byName(tools, "stop_process"), { id, signal: "SIGKILL" });
      expect(stop.artifact).toMatchObject({ ok: true, running: false, exitCode: 137 });
      expect(await remainingProcesses(vm.sandbox, `sleep ${tag}`)).toBe("");
      const unknown = await call(byName(tools, "process_output"), { id: "no-such-process" });
      expect(unknown.status).toBe("error");
    });

    it("hands fixable failures to the model as error ToolMessages, not exceptions", async () => {
      expect(await byName(tools, "read_file").invoke({ path: "missing.txt" })).toMatch(
        /not_found.*missing\.txt/,
      );
      const missing = await call(byName(tools, "read_file"), { path: "missing.txt" });
      expect(missing).toMatchObject({ status: "error", tool_call_id: "call-read_file", name: "read_file" });
      expect(missing.artifact).toMatchObject({ ok: false, code: "not_found" });
      expect(missing.content).toContain(`${vm.dir}/missing.txt`);

      await vm.sandbox.writeFile(`${vm.dir}/twice.txt`, "x x\n");
      const ambiguous = await call(byName(tools, "edit_file"), {
        path: "twice.txt",
        oldString: "x",
        newString: "y",
      });
      expect(ambiguous).toMatchObject({ status: "error", artifact: { ok: false, code: "tool_error" } });
      expect(ambiguous.content).toContain("appears 2 times");
      expect(await vm.sandbox.readFile(`${vm.dir}/twice.txt`)).toBe("x x\n");
    });

    it("times out commands (exit 124, a normal result) and honours defaultTimeoutMs and maxOutputChars", async () => {
      const slow = await call(byName(tools, "bash"), { command: "sleep 30", timeoutMs: 300 });
      expect(slow.status).toBe("success");
      expect(slow.artifact).toMatchObject({ exitCode: 124, timedOut: true });
      expect(slow.content).toContain("timed out");

      const limited = createExeDevTools(vm.sandbox, {
        cwd: vm.dir,
        defaultTimeoutMs: 400,
        maxOutputChars: 2000,
      });
      const tag = `5${randomBytes(3).readUIntBE(0, 3)}.25`;
      const started = Date.now();
      const killed = await call(byName(limited, "bash"), { command: `sleep ${tag}` });
      expect(killed.artifact).toMatchObject({ exitCode: 124, timedOut: true });
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(await remainingProcesses(vm.sandbox, `sleep ${tag}`)).toBe("");

      const long = await call(byName(limited, "bash"), { command: "seq 1 100000" });
      expect(long.artifact).toMatchObject({ exitCode: 0, truncated: true });
      expect(String(long.content).length).toBeLessThan(2200);
      expect(long.content).toContain("characters truncated");
      expect(String(long.content).trimEnd().endsWith("100000")).toBe(true);
    });

    it("resolves relative paths and runs commands in cwd", async () => {
      await byName(tools, "write_file").invoke({ path: "sub/rel.txt", content: "relative" });
      expect(await vm.sandbox.readFile(`${vm.dir}/sub/rel.txt`)).toBe("relative");
      expect((await call(byName(tools, "bash"), { command: "pwd" })).artifact.stdout).toBe(`${vm.dir}\n`);
      const home = createExeDevTools(vm.sandbox);
      expect((await call(byName(home, "bash"), { command: "pwd" })).artifact.stdout).toBe(
        `${vm.sandbox.homeDir}\n`,
      );
    });

    it("rejects with core's SandboxError when the sandbox itself fails, which an agent can stop on", async () => {
      const closed = await connectSandbox(vm.server.connectOptions());
      await closed.close();
      const dead = createExeDevTools(closed);
      const error = await byName(dead, "bash")
        .invoke({ command: "true" })
        .catch((e: unknown) => e);
      expect(isSandboxError(error, "closed")).toBe(true);

      const script = () =>
        fakeModel()
          .respondWithTools([{ name: "bash", id: "d1", args: { command: "true" } }])
          .respond(new AIMessage("Gave up."));
      const input = { messages: [new HumanMessage("Run true.")] };
      // createAgent's default: the error becomes an error ToolMessage and the loop goes on.
      const { messages } = await createAgent({ model: script(), tools: dead }).invoke(input);
      expect(messages.find((m: BaseMessage) => ToolMessage.isInstance(m))).toMatchObject({ status: "error" });
      // The README's recipe to end the run instead.
      const stopping = createAgent({
        model: script(),
        tools: dead,
        middleware: [
          toolErrorMiddleware({ onError: (e) => (isSandboxError(e) ? undefined : "The tool failed.") }),
        ],
      });
      await expect(stopping.invoke(input)).rejects.toMatchObject({ name: "SandboxError", code: "closed" });
    });

    it("kills the command when the agent run is aborted", async () => {
      const tag = `4${randomBytes(3).readUIntBE(0, 3)}.25`;
      const model = fakeModel().respondWithTools([
        { name: "bash", id: "a1", args: { command: `sleep ${tag}` } },
      ]);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 500);
      const run = createAgent({ model, tools }).invoke(
        { messages: [new HumanMessage("Sleep.")] },
        { signal: controller.signal },
      );
      await expect(run).rejects.toThrow(/abort/i);
      expect(await remainingProcesses(vm.sandbox, `sleep ${tag}`)).toBe("");
    });

    it("runs in createAgent with a scripted tool-calling model: write_file, then bash", async () => {
      const model = fakeModel()
        .respondWithTools([
          { name: "write_file", id: "t1", args: { path: "agent.txt", content: "from the agent\n" } },
        ])
        .respondWithTools([
          { name: "bash", id: "t2", args: { command: "cat agent.txt && wc -c < agent.txt" } },
        ])
        .respond(new AIMessage("All done."));
      const agent = createAgent({ model, tools });
      const { messages } = await agent.invoke({ messages: [new HumanMessage("Write a file and show it.")] });

      const toolMessages = messages.filter((m: BaseMessage): m is ToolMessage => ToolMessage.isInstance(m));
      expect(toolMessages.map((m) => [m.tool_call_id, m.name, m.status])).toEqual([
        ["t1", "write_file", "success"],
        ["t2", "bash", "success"],
      ]);
      expect(toolMessages[0]?.content).toBe(`Wrote 15 bytes to ${vm.dir}/agent.txt.`);
      expect(toolMessages[1]?.content).toBe("exit code: 0\nstdout:\nfrom the agent\n15\n");
      expect(toolMessages[1]?.artifact).toMatchObject({ ok: true, exitCode: 0 });
      expect(messages.at(-1)?.content).toBe("All done.");
      // The model's third turn saw the bash result.
      expect(model.calls[2]?.messages.at(-1)?.content).toContain("from the agent");
      expect(await vm.sandbox.readFile(`${vm.dir}/agent.txt`)).toBe("from the agent\n");
    });

    it("works with bindTools and a hand-written loop", async () => {
      const model = fakeModel()
        .respondWithTools([{ name: "list_files", id: "l1", args: { path: "sub" } }])
        .respond(new AIMessage("Listed."));
      const bound = model.bindTools(tools);
      const messages: BaseMessage[] = [new HumanMessage("What is in sub?")];
      for (let turn = 0; turn < 4; turn++) {
        const reply = (await bound.invoke(messages)) as AIMessage;
        messages.push(reply);
        if (!reply.tool_calls?.length) break;
        for (const toolCall of reply.tool_calls)
          messages.push(await byName(tools, toolCall.name).invoke(toolCall));
      }
      expect(messages.map((m) => m.type)).toEqual(["human", "ai", "tool", "ai"]);
      expect(messages[2]?.content).toBe(`${vm.dir}/sub:\nrel.txt (8 bytes)`);
    });
  });
});
