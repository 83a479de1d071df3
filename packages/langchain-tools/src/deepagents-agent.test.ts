import { randomBytes } from "node:crypto";
import { stopProcessTool } from "@exedev-sandbox/core";
import { describeWithSshd, remainingProcesses, useScratchSandbox } from "@exedev-sandbox/testing";
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { fakeModel } from "@langchain/core/testing";
import { createDeepAgent } from "deepagents";
import { expect, it } from "vitest";
import { createDeepAgentsBackend, createExeDevTools } from "./index.js";
import { ReferenceSandbox } from "./reference-sandbox.js";

/** The text of a ToolMessage, whether deepagents gave it as a string or as content blocks. */
const textOf = (message: ToolMessage): string =>
  typeof message.content === "string"
    ? message.content
    : message.content.map((block) => ("text" in block ? block.text : "")).join("");

describeWithSshd("createDeepAgent with the exe.dev backend on OpenSSH", () => {
  const vm = useScratchSandbox({ prefix: "agent" });

  it("runs deepagents' own tools against the VM: execute, write_file, read_file, edit_file, glob, grep", async () => {
    const file = `${vm.dir}/app.py`;
    const model = fakeModel()
      .respondWithTools([{ name: "execute", id: "x1", args: { command: "uname -s; echo warn >&2; exit 3" } }])
      .respondWithTools([
        { name: "write_file", id: "w1", args: { file_path: file, content: "print(1)\nprint(2)\n" } },
      ])
      .respondWithTools([{ name: "read_file", id: "r1", args: { file_path: file } }])
      .respondWithTools([
        {
          name: "edit_file",
          id: "e1",
          args: { file_path: file, old_string: "print(2)", new_string: "print(3)" },
        },
      ])
      .respondWithTools([{ name: "glob", id: "g1", args: { pattern: "**/*.py", path: vm.dir } }])
      .respondWithTools([{ name: "grep", id: "s1", args: { pattern: "print(3)", path: vm.dir } }])
      .respondWithTools([{ name: "execute", id: "x2", args: { command: `python3 ${file} || cat ${file}` } }])
      .respond(new AIMessage("Done."));
    const agent = createDeepAgent({ model, backend: createDeepAgentsBackend(vm.sandbox) });
    const { messages } = await agent.invoke({ messages: [new HumanMessage("Make app.py print 1 and 3.")] });

    const results = new Map(
      messages
        .filter((m: BaseMessage): m is ToolMessage => ToolMessage.isInstance(m))
        .map((m: ToolMessage) => [m.tool_call_id, textOf(m)]),
    );
    expect(results.get("x1")).toBe("Linux\nwarn\n\n[Command failed with exit code 3]");
    expect(results.get("w1")).toBe(`Successfully wrote to '${file}'`);
    // Raw lines under deepagents' status header: the model copies them into old_string as they are.
    expect(results.get("r1")).toBe("@@ lines 1-2 of 2 @@\nprint(1)\nprint(2)");
    expect(results.get("e1")).toBe(`Successfully replaced 1 occurrence(s) in '${file}'`);
    expect(results.get("g1")).toBe("app.py");
    expect(results.get("s1")).toBe(`${file}:\n  2: print(3)`);
    expect(results.get("x2")).toMatch(/^1\n3\n\n\[Command succeeded with exit code 0\]$|print\(3\)/);
    expect(messages.at(-1)?.content).toBe("Done.");
    expect(await vm.sandbox.readFile(file)).toBe("print(1)\nprint(3)\n");
  });

  it("takes the process tools through its tools option: a server started by start_process, reached by execute", async () => {
    const port = 20_000 + (randomBytes(2).readUInt16BE(0) % 20_000);
    await vm.sandbox.writeFile(`${vm.dir}/site/index.html`, "deep\n");
    const model = fakeModel()
      .respondWithTools([
        {
          name: "start_process",
          id: "p1",
          args: {
            command: `exec python3 -m http.server ${port} --bind 127.0.0.1`,
            cwd: `${vm.dir}/site`,
            waitForPort: port,
          },
        },
      ])
      .respondWithTools([
        { name: "execute", id: "x1", args: { command: `curl -sS http://127.0.0.1:${port}/index.html` } },
      ])
      .respond(new AIMessage("Served."));
    const agent = createDeepAgent({
      model,
      backend: createDeepAgentsBackend(vm.sandbox),
      // Only the four: deepagents brings its own read_file, write_file and edit_file.
      tools: createExeDevTools(vm.sandbox, {
        tools: ["start_process", "process_output", "stop_process", "list_processes"],
      }),
    });
    const { messages } = await agent.invoke({ messages: [new HumanMessage("Serve site/ and fetch it.")] });
    const toolMessages = messages.filter((m: BaseMessage): m is ToolMessage => ToolMessage.isInstance(m));
    const started = toolMessages.find((m) => m.tool_call_id === "p1");
    const id = (started?.artifact as { id?: string } | undefined)?.id;
    expect(textOf(started as ToolMessage)).toContain(`id: ${id}`);
    expect(textOf(toolMessages.find((m) => m.tool_call_id === "x1") as ToolMessage)).toContain("deep\n");
    const stopped = await stopProcessTool.run(vm.sandbox, { id: String(id) });
    expect(stopped).toMatchObject({ ok: true, running: false });
    expect(await remainingProcesses(vm.sandbox, `http.server ${port}`)).toBe("");
  });

  it("gives the model what deepagents' BaseSandbox gives it for missing paths and failed calls", async () => {
    const missing = `${vm.dir}/nowhere`;
    await vm.sandbox.writeFile(`${vm.dir}/same/a.txt`, "alpha\n");
    const calls = [
      { name: "ls", id: "l1", args: { path: missing } },
      { name: "ls", id: "l2", args: { path: `${vm.dir}/same` } },
      { name: "glob", id: "g1", args: { pattern: "*", path: missing } },
      { name: "grep", id: "s1", args: { pattern: "alpha", path: missing } },
      { name: "read_file", id: "r1", args: { file_path: `${missing}/x.txt` } },
      {
        name: "edit_file",
        id: "e1",
        args: { file_path: `${vm.dir}/same/a.txt`, old_string: "beta", new_string: "b" },
      },
      { name: "delete", id: "d1", args: { file_path: `${missing}/x.txt` } },
    ];
    /** The ToolMessage texts one deep agent run gives the model, by call id. */
    const run = async (backend: ReturnType<typeof createDeepAgentsBackend> | ReferenceSandbox) => {
      const model = fakeModel().respondWithTools(calls).respond(new AIMessage("Done."));
      const { messages } = await createDeepAgent({ model, backend }).invoke({
        messages: [new HumanMessage("go")],
      });
      return Object.fromEntries(
        messages
          .filter((m: BaseMessage): m is ToolMessage => ToolMessage.isInstance(m))
          .map((m: ToolMessage) => [m.tool_call_id, textOf(m)]),
      );
    };
    const ours = createDeepAgentsBackend(vm.sandbox);
    const mine = await run(ours);
    expect(Object.keys(mine).sort()).toEqual(calls.map((c) => c.id).sort());
    expect(mine).toEqual(await run(new ReferenceSandbox(ours)));
    expect(mine.l1).toMatch(/^No files found/);
    expect(mine.l2).toContain(`${vm.dir}/same/a.txt`);
  });
});
