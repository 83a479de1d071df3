import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { describeWithSshd, remainingProcesses, useScratchSandbox } from "@exedev-sandbox/testing";
import { afterAll, expect, it } from "vitest";
import { connectSandbox } from "../ssh/ssh-sandbox.js";
import { bashTool } from "./bash-tool.js";
import { listProcessesTool } from "./list-processes-tool.js";
import { processOutputTool } from "./process-output-tool.js";
import { startProcessTool } from "./start-process-tool.js";
import { stopProcessTool } from "./stop-process-tool.js";

/** A TCP port nothing listens on right now (sshd runs on this machine, so it is free there too). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

/** A unique marker for `remainingProcesses`, shaped as a `sleep` argument. */
const marker = (lead: number): string => `${lead}${randomBytes(3).readUIntBE(0, 3)}.5`;

describeWithSshd("process tools on OpenSSH", () => {
  const vm = useScratchSandbox({ prefix: "proctools", connectWith: connectSandbox });
  const ctx = () => ({ cwd: vm.dir });
  const started: string[] = [];
  afterAll(async () => {
    // Detached processes outlive the sandbox by design; stop what a failed test left behind.
    for (const id of started) await stopProcessTool.run(vm.sandbox, { id, signal: "SIGKILL" }, ctx());
  });

  it("starts a server that the next tool call reaches, reads only new output, and stops it", async () => {
    const port = await freePort();
    await vm.sandbox.writeFile(`${vm.dir}/site/hello.txt`, "hello from the VM\n");
    const start = await startProcessTool.run(
      vm.sandbox,
      { command: `exec python3 -m http.server ${port} --bind 127.0.0.1`, cwd: "site", waitForPort: port },
      ctx(),
    );
    if (!start.ok) throw new Error(start.text);
    started.push(start.id);
    expect(start).toMatchObject({ running: true, ready: true, exitCode: undefined });
    expect(start.text).toContain(`id: ${start.id}`);

    // Another tool call, another exec: the server is still there.
    const curl = await bashTool.run(
      vm.sandbox,
      { command: `curl -sS http://127.0.0.1:${port}/hello.txt` },
      ctx(),
    );
    expect(curl).toMatchObject({ ok: true, exitCode: 0, stdout: "hello from the VM\n" });

    // http.server logs each request on stderr; the log line is new output, read once.
    const log = await processOutputTool.run(
      vm.sandbox,
      { id: start.id, waitMs: 10_000, waitForText: "GET /hello.txt" },
      ctx(),
    );
    expect(log).toMatchObject({ ok: true, running: true });
    expect(log.ok && log.stderr).toContain('"GET /hello.txt HTTP/1.1" 200');
    const again = await processOutputTool.run(vm.sandbox, { id: start.id }, ctx());
    expect(again).toMatchObject({ ok: true, running: true, stdout: "", stderr: "" });
    expect(again.text).toContain("(no new output)");

    const listed = await listProcessesTool.run(vm.sandbox, {}, ctx());
    expect(listed.ok && listed.processes.find((p) => p.id === start.id)).toMatchObject({ running: true });

    const stop = await stopProcessTool.run(vm.sandbox, { id: start.id }, ctx());
    // python's http.server dies of SIGTERM: 128 + 15.
    expect(stop).toMatchObject({ ok: true, running: false, exitCode: 143 });
    expect(await remainingProcesses(vm.sandbox, `http.server ${port}`)).toBe("");
    const closed = await bashTool.run(vm.sandbox, { command: `curl -sS http://127.0.0.1:${port}/` }, ctx());
    expect(closed.ok && closed.exitCode).not.toBe(0);
  });

  it("waits for a finishing command's exit and gives each line once", async () => {
    const start = await startProcessTool.run(
      vm.sandbox,
      { command: "echo first; sleep 1; echo second; echo warn >&2; exit 3", waitForText: "first" },
      ctx(),
    );
    if (!start.ok) throw new Error(start.text);
    started.push(start.id);
    expect(start).toMatchObject({ ready: true, running: true, stdout: "first\n" });
    const done = await processOutputTool.run(vm.sandbox, { id: start.id, waitMs: 20_000 }, ctx());
    expect(done).toMatchObject({
      ok: true,
      running: false,
      exitCode: 3,
      stdout: "second\n",
      stderr: "warn\n",
    });
    expect(done.text).toContain("exited, code 3");
    // Stopping an exited process is not an error; there is nothing new to show.
    const stop = await stopProcessTool.run(vm.sandbox, { id: start.id }, ctx());
    expect(stop).toMatchObject({ ok: true, exitCode: 3, stdout: "", stderr: "" });
    expect(stop.text).toContain("already exited");
  });

  it("says when a server exits before its port opens, and kills at timeoutMs", async () => {
    const port = await freePort();
    const broken = await startProcessTool.run(
      vm.sandbox,
      { command: "echo cannot start >&2; exit 7", waitForPort: port, waitMs: 20_000 },
      ctx(),
    );
    expect(broken).toMatchObject({
      ok: true,
      ready: false,
      running: false,
      exitCode: 7,
      stderr: "cannot start\n",
    });
    expect(broken.text).toContain(`exited before port ${port} to open`);

    const tag = marker(5);
    const slow = await startProcessTool.run(vm.sandbox, { command: `sleep ${tag}`, timeoutMs: 1_000 }, ctx());
    if (!slow.ok) throw new Error(slow.text);
    started.push(slow.id);
    const killed = await processOutputTool.run(vm.sandbox, { id: slow.id, waitMs: 20_000 }, ctx());
    expect(killed).toMatchObject({ ok: true, running: false, exitCode: 124, timedOut: true });
    expect(await remainingProcesses(vm.sandbox, `sleep ${tag}`)).toBe("");
  });

  it("escalates to SIGKILL for a process that ignores SIGTERM", async () => {
    const tag = marker(6);
    const start = await startProcessTool.run(
      vm.sandbox,
      { command: `trap '' TERM; echo armed; sleep ${tag}; sleep ${tag}`, waitForText: "armed" },
      ctx(),
    );
    if (!start.ok) throw new Error(start.text);
    started.push(start.id);
    const began = Date.now();
    const stop = await stopProcessTool.run(vm.sandbox, { id: start.id }, ctx());
    expect(stop).toMatchObject({ ok: true, running: false, exitCode: 137 });
    expect(stop.text).toContain("SIGKILL");
    // The 3 s grace, then the kill: well under the sleep.
    expect(Date.now() - began).toBeGreaterThanOrEqual(2_900);
    expect(Date.now() - began).toBeLessThan(15_000);
    expect(await remainingProcesses(vm.sandbox, `sleep ${tag}`)).toBe("");
  });

  it("finds a process from another sandbox object by id, with the output it kept", async () => {
    const tag = marker(7);
    const start = await startProcessTool.run(
      vm.sandbox,
      { command: `echo kept-line; sleep ${tag}`, waitForText: "kept-line" },
      ctx(),
    );
    if (!start.ok) throw new Error(start.text);
    started.push(start.id);
    const other = await connectSandbox(vm.server.connectOptions());
    try {
      const listed = await listProcessesTool.run(other, {}, ctx());
      expect(listed.ok && listed.text).toContain(start.id);
      // A fresh reader starts at the oldest kept output.
      const seen = await processOutputTool.run(other, { id: start.id }, ctx());
      expect(seen).toMatchObject({ ok: true, running: true });
      expect(seen.ok && seen.stdout).toContain("kept-line");
      const stop = await stopProcessTool.run(other, { id: start.id }, ctx());
      expect(stop).toMatchObject({ ok: true, running: false });
    } finally {
      await other.close();
    }
    expect(await remainingProcesses(vm.sandbox, `sleep ${tag}`)).toBe("");
  });

  it("kills a process whose start_process call was aborted before it returned the id", async () => {
    const tag = marker(4);
    const port = await freePort();
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 500);
    const began = Date.now();
    await expect(
      startProcessTool.run(
        vm.sandbox,
        { command: `sleep ${tag}`, waitForPort: port, waitMs: 60_000 },
        { ...ctx(), signal: abort.signal },
      ),
    ).rejects.toMatchObject({ code: "aborted" });
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(await remainingProcesses(vm.sandbox, `sleep ${tag}`)).toBe("");
  });

  it("answers an unknown id with not_found, for the model to correct", async () => {
    for (const tool of [processOutputTool, stopProcessTool]) {
      const result = await tool.run(vm.sandbox, { id: "no-such-process" }, ctx());
      expect(result).toMatchObject({ ok: false, code: "not_found" });
    }
  });
});
