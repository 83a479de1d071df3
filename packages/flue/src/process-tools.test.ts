import { createServer } from "node:net";
import { describeWithSshd, remainingProcesses, useScratchSandbox } from "@exedev-sandbox/testing";
import { expect, it } from "vitest";
import { exedev } from "./index.js";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

describeWithSshd("Flue tools from exedev()", () => {
  const vm = useScratchSandbox({ prefix: "flue-procs" });

  it("adds the process tools to Flue's six; a server started by one is reached by Flue's bash", async () => {
    const factory = exedev(vm.sandbox);
    const sandbox = await factory.createSandbox({ id: "agent-1" });
    // Flue hands the tool factory a spread copy of the sandbox, with its cwd: do the same.
    const env = { ...sandbox, cwd: vm.dir };
    const tools = factory.tools?.(env, { subagents: {} }) ?? [];
    expect(tools.map((tool) => tool.name)).toEqual([
      "read",
      "write",
      "edit",
      "bash",
      "grep",
      "glob",
      "start_process",
      "process_output",
      "stop_process",
      "list_processes",
      "preview_url",
    ]);
    const byName = (name: string) => {
      const tool = tools.find((each) => each.name === name);
      if (!tool) throw new Error(`no ${name}`);
      return tool;
    };
    expect(byName("start_process").description).toContain("process_output");
    expect(byName("start_process").parameters).toMatchObject({ type: "object", required: ["command"] });

    const port = await freePort();
    await vm.sandbox.writeFile(`${vm.dir}/www/page.txt`, "from flue\n");
    const started = await byName("start_process").execute("c1", {
      command: `exec python3 -m http.server ${port} --bind 127.0.0.1`,
      cwd: "www",
      waitForPort: port,
    });
    expect(started.details).toMatchObject({ ok: true, running: true, ready: true });
    const id = (started.details as { id: string }).id;

    const curl = await byName("bash").execute("c2", {
      command: `curl -sS http://127.0.0.1:${port}/page.txt`,
    });
    expect(JSON.stringify(curl.content)).toContain("from flue");

    const stopped = await byName("stop_process").execute("c3", { id });
    expect(stopped.details).toMatchObject({ ok: true, running: false, exitCode: 143 });
    expect(await remainingProcesses(vm.sandbox, `http.server ${port}`)).toBe("");
    // A failure the model can fix is thrown, as Flue's own tools do.
    await expect(byName("process_output").execute("c4", { id: "no-such-process" })).rejects.toThrow(
      /not_found/,
    );
    await factory.dispose();
  });
});
