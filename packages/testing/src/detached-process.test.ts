// A detached server outlives its sandbox and its client: started here, closed, then found,
// read, reached and killed from another Node process on the built core, with `ps` showing
// nothing left. One server and login (not the whole contract matrix): it costs a child process.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Sandbox } from "@exedev-sandbox/core";
import { afterAll, expect, it } from "vitest";
import { describeWithSshd } from "./gate.ts";
import { useSshd } from "./lazy.ts";
import { remainingProcesses } from "./remote-processes.ts";

const coreDist = pathToFileURL(
  join(dirname(createRequire(import.meta.url).resolve("@exedev-sandbox/core/package.json")), "dist/index.js"),
).href;
const scratch = mkdtempSync(join(tmpdir(), "exedev-detached-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

/** Runs `body` as a Node script on the built core; resolves with its stdout once it exited 0. */
function runChild(body: string, args: object): Promise<string> {
  const path = join(scratch, `child-${randomBytes(4).toString("hex")}.mjs`);
  writeFileSync(
    path,
    `const { connectSandbox } = await import(${JSON.stringify(coreDist)});\nconst args = JSON.parse(process.argv[2]);\n${body}\n`,
  );
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path, JSON.stringify(args)], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`child failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const CHILD = `
const sandbox = await connectSandbox(args.options);
const entry = (await sandbox.listProcesses()).find((p) => p.id === args.id);
const server = await sandbox.attachProcess(args.id);
const page = await sandbox.exec("curl -s http://127.0.0.1:" + args.port + "/hello.txt");
await sandbox.waitForOutput(server, "GET /hello.txt", { stream: "stderr", timeoutMs: 10000 });
const log = await server.output();
await server.kill();
const result = await server.wait();
const after = (await sandbox.listProcesses()).find((p) => p.id === args.id);
await sandbox.close();
console.log(JSON.stringify({ entry, pid: server.pid, page: page.stdout, log, exitCode: result.exitCode, after }));
`;

describeWithSshd("a detached process across sandboxes and Node processes", () => {
  const sshd = useSshd();

  it("python3 -m http.server survives close, is found, read, reached and killed from a child Node process", async () => {
    const server = await sshd();
    const { connectSandbox } = (await import(coreDist)) as {
      connectSandbox: (options: object) => Promise<Sandbox>;
    };
    const port = 20_000 + (randomBytes(2).readUInt16BE(0) % 30_000);
    const marker = `http.server --bind 127.0.0.1 ${port}`;
    const first = await connectSandbox({ ...server.connectOptions(), transport: "agent" });
    let id: string;
    const dir = `${first.homeDir}/detached-${randomBytes(4).toString("hex")}`;
    try {
      await first.writeFile(`${dir}/hello.txt`, "hello from the VM\n");
      const started = await first.spawn(`exec ${PYTHON} -u -m ${marker}`, {
        detached: true,
        cwd: dir,
        timeoutMs: 120_000,
      }); // the deadline: a safety net if the test fails
      id = started.id;
      await first.waitForPort(port, { timeoutMs: 15_000 });
      await first.waitForOutput(started, "Serving HTTP", { timeoutMs: 10_000 });
    } finally {
      await first.close();
    }

    const checker = await connectSandbox({ ...server.connectOptions(), transport: "channels" });
    try {
      // Still serving with nobody connected.
      expect((await checker.exec(`ps -eo args= | grep -F -- '${marker}' | grep -v grep`)).stdout).toContain(
        marker,
      );
      const out = JSON.parse(await runChild(CHILD, { options: server.connectOptions(), id, port })) as {
        entry: { id: string; running: boolean; detached: boolean; command: string; pid: number };
        pid: number;
        page: string;
        log: { stdout: string; stderr: string };
        exitCode: number;
        after: { running: boolean; exitCode: number };
      };
      expect(out.entry).toMatchObject({ id, running: true, detached: true });
      expect(out.entry.command).toContain(marker);
      expect(out.pid).toBe(out.entry.pid);
      expect(out.page).toBe("hello from the VM\n");
      // The log holds what it printed before the child attached, and the request made since.
      expect(out.log.stdout).toContain(`Serving HTTP on 127.0.0.1 port ${port}`);
      expect(out.log.stderr).toContain('"GET /hello.txt HTTP/1.1" 200');
      expect(out.exitCode).toBe(137);
      expect(out.after).toMatchObject({ running: false, exitCode: 137 });
      expect(await remainingProcesses(checker, marker)).toBe("");
      expect(await remainingProcesses(checker, `exedev-keeper ${id}`)).toBe("");
    } finally {
      await checker.rm(dir, { recursive: true, force: true }).catch(() => {});
      await checker.close();
    }
  });
});
