import { randomBytes } from "node:crypto";
import { connectSandbox, type SshSandbox } from "@exedev-sandbox/core";
import { describeWithSshd, type SshdServer, startSshd } from "@exedev-sandbox/testing";
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { fakeModel } from "@langchain/core/testing";
import { createDeepAgent } from "deepagents";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createDeepAgentsBackend } from "./index.js";

/** The text of a ToolMessage, whether deepagents gave it as a string or as content blocks. */
const textOf = (message: ToolMessage): string =>
  typeof message.content === "string"
    ? message.content
    : message.content.map((block) => ("text" in block ? block.text : "")).join("");

describeWithSshd("createDeepAgent with the exe.dev backend on OpenSSH", () => {
  let server: SshdServer;
  let sandbox: SshSandbox;
  let root: string;
  beforeAll(async () => {
    server = await startSshd();
    sandbox = await connectSandbox(server.connectOptions());
    root = `${sandbox.homeDir}/agent-${randomBytes(4).toString("hex")}`;
  });
  afterAll(async () => {
    await sandbox?.rm(root, { recursive: true, force: true });
    await sandbox?.close();
    await server?.stop();
  });

  it("runs deepagents' own tools against the VM: execute, write_file, read_file, edit_file, glob, grep", async () => {
    const file = `${root}/app.py`;
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
      .respondWithTools([{ name: "glob", id: "g1", args: { pattern: "**/*.py", path: root } }])
      .respondWithTools([{ name: "grep", id: "s1", args: { pattern: "print(3)", path: root } }])
      .respondWithTools([{ name: "execute", id: "x2", args: { command: `python3 ${file} || cat ${file}` } }])
      .respond(new AIMessage("Done."));
    const agent = createDeepAgent({ model, backend: createDeepAgentsBackend(sandbox) });
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
    expect(await sandbox.readFile(file)).toBe("print(1)\nprint(3)\n");
  });
});
