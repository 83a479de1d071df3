import { randomBytes } from "node:crypto";
import { connectSandbox, type SshSandbox } from "@exedev-sandbox/core";
import { defineAdapterContract, describeWithSshd, type SshdServer, startSshd } from "@exedev-sandbox/testing";
import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import type { ChatResult } from "@langchain/core/outputs";
import type { StructuredToolInterface } from "@langchain/core/tools";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeepAgentsBackend, createExeDevTools } from "./index.js";

const byName = (tools: StructuredToolInterface[], name: string): StructuredToolInterface => {
  const found = tools.find((t) => t.name === name);
  if (!found) throw new Error(`no tool ${name}`);
  return found;
};

/**
 * A chat model that answers with scripted messages, one per call. @langchain/core's own
 * fakes always return their first response, which cannot script a multi-turn tool loop; the
 * tool calls and ToolMessages below still go through LangChain's real plumbing.
 */
class ScriptedChatModel extends BaseChatModel {
  readonly seen: BaseMessage[][] = [];
  constructor(private readonly script: AIMessage[]) {
    super({});
  }
  _llmType(): string {
    return "scripted";
  }
  override bindTools(_tools: unknown): this {
    return this;
  }
  async _generate(messages: BaseMessage[]): Promise<ChatResult> {
    this.seen.push([...messages]);
    return { generations: [{ text: "", message: this.script.shift() ?? new AIMessage("(script ended)") }] };
  }
}

describeWithSshd("LangChain tools and deepagents backend on OpenSSH", () => {
  defineAdapterContract("langchain-tools (tool.invoke)", {
    failures: "error-result",
    capabilities: { cwd: true, timeout: true, abort: true },
    async setup() {
      const server = await startSshd();
      const sandbox = await connectSandbox(server.connectOptions());
      const tools = createExeDevTools(sandbox);
      const invoke = async (name: string, args: Record<string, unknown>, signal?: AbortSignal) => {
        const message = (await byName(tools, name).invoke(
          { type: "tool_call", id: "c", name, args },
          { signal },
        )) as ToolMessage;
        return message.artifact as { ok: boolean; text: string; [key: string]: unknown };
      };
      return {
        sandbox,
        harness: {
          exec: async (command, options) => {
            const r = await invoke(
              "bash",
              { command, cwd: options?.cwd, timeoutMs: options?.timeoutMs },
              options?.signal,
            );
            return { exitCode: r.exitCode as number, stdout: r.stdout as string, stderr: r.stderr as string };
          },
          readFile: async (path) => {
            const r = await invoke("read_file", { path });
            return r.ok ? (r.content as string) : r.text;
          },
          writeFile: async (path, content) => {
            const r = await invoke("write_file", { path, content });
            if (!r.ok) throw new Error(r.text);
          },
        },
        dispose: async () => {
          await sandbox.close();
          await server.stop();
        },
      };
    },
  });

  describe("tools and backend", () => {
    let server: SshdServer;
    let sandbox: SshSandbox;
    let root: string;
    beforeAll(async () => {
      server = await startSshd();
      sandbox = await connectSandbox(server.connectOptions());
      root = `${sandbox.homeDir}/lc-${randomBytes(4).toString("hex")}`;
      await sandbox.mkdir(root);
    });
    afterAll(async () => {
      await sandbox?.rm(root, { recursive: true, force: true });
      await sandbox?.close();
      await server?.stop();
    });

    it("names the tools in snake_case and validates arguments with their schemas", async () => {
      const tools = createExeDevTools(sandbox, { cwd: root });
      expect(tools.map((t) => t.name)).toEqual([
        "bash",
        "read_file",
        "write_file",
        "edit_file",
        "list_files",
      ]);
      expect(createExeDevTools(sandbox, { tools: ["bash"] }).map((t) => t.name)).toEqual(["bash"]);
      await expect(byName(tools, "bash").invoke({ command: 42 } as never)).rejects.toThrow();
      await expect(byName(tools, "edit_file").invoke({ path: "x" } as never)).rejects.toThrow();
      expect(await byName(tools, "bash").invoke({ command: "echo plain" })).toContain("plain");
    });

    it("returns ToolMessages with text content and the structured artifact", async () => {
      const tools = createExeDevTools(sandbox, { cwd: root });
      await byName(tools, "write_file").invoke({ path: "a.txt", content: "alpha\n" });
      const message = (await byName(tools, "bash").invoke({
        type: "tool_call",
        id: "call_1",
        name: "bash",
        args: { command: "cat a.txt" },
      })) as ToolMessage;
      expect(message).toBeInstanceOf(ToolMessage);
      expect(message.tool_call_id).toBe("call_1");
      expect(message.content).toContain("alpha");
      expect(message.artifact).toMatchObject({ ok: true, exitCode: 0, stdout: "alpha\n" });
      expect(await byName(tools, "read_file").invoke({ path: "missing.txt" })).toMatch(
        /not_found.*missing\.txt/,
      );
      expect(await byName(tools, "bash").invoke({ command: "sleep 20", timeoutMs: 300 })).toContain(
        "timed out",
      );
    });

    it("runs a tool-calling loop with a scripted chat model: write_file, then bash", async () => {
      const tools = createExeDevTools(sandbox, { cwd: root });
      const model = new ScriptedChatModel([
        new AIMessage({
          content: "",
          tool_calls: [
            { id: "t1", name: "write_file", args: { path: "loop.txt", content: "from the loop\n" } },
          ],
        }),
        new AIMessage({
          content: "",
          tool_calls: [{ id: "t2", name: "bash", args: { command: "cat loop.txt" } }],
        }),
        new AIMessage("all done"),
      ]);
      const bound = model.bindTools(tools);
      const messages: BaseMessage[] = [new HumanMessage("write and show a file")];
      for (let turn = 0; turn < 5; turn++) {
        const reply = (await bound.invoke(messages)) as AIMessage;
        messages.push(reply);
        if (!reply.tool_calls?.length) break;
        for (const call of reply.tool_calls)
          messages.push(
            (await byName(tools, call.name).invoke({ ...call, type: "tool_call" })) as ToolMessage,
          );
      }
      const toolMessages = messages.filter((m): m is ToolMessage => m instanceof ToolMessage);
      expect(toolMessages.map((m) => m.tool_call_id)).toEqual(["t1", "t2"]);
      expect(toolMessages[1]?.content).toContain("from the loop");
      expect(messages.at(-1)?.content).toBe("all done");
      // The model's third call saw the bash result as a ToolMessage.
      expect(String(model.seen[2]?.at(-1)?.content)).toContain("from the loop");
    });

    it("implements the deepagents backend natively, byte-exact, with its error values", async () => {
      const backend = createDeepAgentsBackend(sandbox, { id: "vm-1" });
      expect(backend.id).toBe("vm-1");
      const dir = `${root}/da`;
      expect(await backend.write(`${dir}/notes.md`, "one\ntwo\nthree\n")).toEqual({
        path: `${dir}/notes.md`,
        filesUpdate: null,
      });
      const read = await backend.read(`${dir}/notes.md`, 1, 1);
      expect(read).toMatchObject({
        content: "     2\ttwo\n",
        totalLines: 3,
        startLine: 2,
        endLine: 2,
        nextOffset: 2,
      });
      expect((await backend.read(`${dir}/notes.md`)).content).toBe(
        "     1\tone\n     2\ttwo\n     3\tthree\n",
      );
      expect(await backend.read(`${dir}/missing.md`)).toEqual({
        error: `File '${dir}/missing.md' not found`,
      });
      expect(await backend.edit(`${dir}/notes.md`, "two", "TWO")).toMatchObject({ occurrences: 1 });
      expect((await backend.edit(`${dir}/notes.md`, "e", "E")).error).toContain("Multiple occurrences");
      expect(await backend.edit(`${dir}/notes.md`, "e", "E", true)).toMatchObject({ occurrences: 3 });
      expect((await backend.edit(`${dir}/notes.md`, "zzz", "y")).error).toContain("String not found");
      expect(await sandbox.readFile(`${dir}/notes.md`)).toBe("onE\nTWO\nthrEE\n");
      const raw = await backend.readRaw(`${dir}/notes.md`);
      expect(raw.data).toMatchObject({ content: "onE\nTWO\nthrEE\n", mimeType: "text/plain" });

      const bytes = randomBytes(4096);
      const uploads = await backend.uploadFiles!([
        [`${dir}/img.png`, bytes],
        [dir, bytes],
      ]);
      expect(uploads).toEqual([
        { path: `${dir}/img.png`, error: null },
        { path: dir, error: "is_directory" },
      ]);
      const downloads = await backend.downloadFiles!([`${dir}/img.png`, `${dir}/nope.bin`]);
      expect(Buffer.from(downloads[0]!.content!).equals(bytes)).toBe(true);
      expect(downloads[1]).toEqual({ path: `${dir}/nope.bin`, content: null, error: "file_not_found" });
      expect((await backend.read(`${dir}/img.png`)).content).toBeInstanceOf(Uint8Array);
      expect(await backend.write(`${dir}/pic.png`, bytes.toString("base64"))).toMatchObject({
        path: `${dir}/pic.png`,
      });
      expect(Buffer.from(await sandbox.readFileBuffer(`${dir}/pic.png`)).equals(bytes)).toBe(true);

      const listing = await backend.ls(dir);
      expect(listing.files?.map((f) => f.path).sort()).toEqual([
        `${dir}/img.png`,
        `${dir}/notes.md`,
        `${dir}/pic.png`,
      ]);
      await backend.write(`${dir}/sub dir/it's $weird.txt`, "needle: here\nno\n");
      expect((await backend.ls(dir)).files?.find((f) => f.is_dir)?.path).toBe(`${dir}/sub dir/`);

      const grep = await backend.grep("needle: h", dir);
      expect(grep.matches).toEqual([
        { path: `${dir}/sub dir/it's $weird.txt`, line: 1, text: "needle: here" },
      ]);
      expect((await backend.grep("$(touch /tmp/pwned)", dir)).matches).toEqual([]);
      expect((await backend.grep("E", dir, "*.md", 1)).truncated).toBe(true);
      const glob = await backend.glob("**/*.txt", dir);
      expect(glob.files?.map((f) => f.path)).toEqual(["sub dir/it's $weird.txt"]);
      expect((await backend.glob("*.md", dir)).files?.map((f) => f.path)).toEqual(["notes.md"]);

      const run = await backend.execute(`cd ${JSON.stringify(dir)} && echo out && echo err >&2 && exit 4`);
      expect(run).toEqual({ output: "out\nerr\n", exitCode: 4, truncated: false });
      expect(await backend.delete!(`${dir}/sub dir`)).toMatchObject({ path: `${dir}/sub dir` });
      expect(await sandbox.exists(`${dir}/sub dir`)).toBe(false);
      expect((await backend.delete!(`${dir}/sub dir`)).error).toContain("not found");
    });
  });
});
