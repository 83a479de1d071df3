// Plain Node scripts on the built core: pending work keeps the process alive, finished work never
// does. A script awaiting a call must get its result or error, never exit 13 ("unsettled
// top-level await"), and a script that forgets `close()` must still exit.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeEach, expect, it } from "vitest";
import { describeWithSshd } from "./gate.ts";
import { type SshdServer, startSshd } from "./sshd.ts";

const coreDist = pathToFileURL(
  join(dirname(createRequire(import.meta.url).resolve("@exedev-sandbox/core/package.json")), "dist/index.js"),
).href;
const scratch = mkdtempSync(join(tmpdir(), "exedev-process-lifetime-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A running script: its output so far, a wait for a line, and its exit. */
interface Script {
  child: ChildProcess;
  stdout(): string;
  waitFor(text: string, timeoutMs?: number): Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

let counter = 0;
const running = new Set<ChildProcess>();

function runScript(body: string, options: object): Script {
  const path = join(scratch, `script-${counter++}.mjs`);
  writeFileSync(
    path,
    `const { connectSandbox } = await import(${JSON.stringify(coreDist)});\n` +
      `const options = JSON.parse(process.argv[2]);\n${body}\n`,
  );
  const child = spawn(process.execPath, [path, JSON.stringify(options)], { stdio: ["pipe", "pipe", "pipe"] });
  running.add(child);
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    for (const listener of listeners) listener();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal, at: Date.now() });
    }),
  );
  return {
    child,
    stdout: () => (err ? `${out}\n[stderr] ${err}` : out),
    exited,
    waitFor: (text, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (!out.includes(text)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(Date.now());
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no "${text}" within ${timeoutMs} ms; output: ${out} ${err}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => setTimeout(check, 0));
        check();
      }),
  };
}

/** Waits for the script to exit, killing it (and failing) after `timeoutMs`. */
async function exitOf(script: Script, timeoutMs: number) {
  const timer = setTimeout(() => script.child.kill("SIGKILL"), timeoutMs);
  const result = await script.exited;
  clearTimeout(timer);
  return result;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeWithSshd("a plain Node script on the built core", () => {
  let server: SshdServer;
  beforeEach(async () => {
    server = await startSshd();
  });
  afterEach(async () => {
    for (const child of running) child.kill("SIGKILL");
    await server.stop();
  });

  const awaitAfterSignal = `
const sandbox = await connectSandbox(options);
console.log("connected " + (await sandbox.exec("echo hi")).stdout.trim());
await new Promise((resolve) => process.stdin.once("data", resolve));
process.stdin.destroy();
try {
  console.log("resolved " + (await sandbox.exec("echo after")).stdout.trim());
} catch (error) {
  console.log("rejected " + error.code);
}`;

  it("awaiting exec after the server is killed gets sandbox_died, not exit 13", async () => {
    const script = runScript(awaitAfterSignal, { ...server.connectOptions(), reconnectMs: 1_000 });
    await script.waitFor("connected hi");
    await server.stopListening();
    const killedAt = Date.now();
    script.child.stdin?.write("go\n");
    const exit = await exitOf(script, 15_000);
    expect(script.stdout()).toContain("rejected sandbox_died");
    expect(exit.code).toBe(0);
    expect(exit.at - killedAt).toBeLessThan(6_000); // the 1 s budget, then nothing holds it
  });

  it("awaiting exec through an sshd restart gets the result", async () => {
    const script = runScript(awaitAfterSignal, server.connectOptions());
    await script.waitFor("connected hi");
    await server.stopListening();
    await sleep(300);
    script.child.stdin?.write("go\n");
    await sleep(3_000);
    await server.start();
    const exit = await exitOf(script, 20_000);
    expect(script.stdout()).toContain("resolved after");
    expect(exit.code).toBe(0);
  });

  it("connectSandbox with connectRetryMs waits for a port that starts listening later", async () => {
    await server.stopListening();
    const script = runScript(
      `const sandbox = await connectSandbox(options);
console.log("connected " + (await sandbox.exec("echo hi")).stdout.trim());
await sandbox.close();`,
      { ...server.connectOptions(), connectRetryMs: 20_000 },
    );
    await sleep(2_000);
    await server.start();
    const exit = await exitOf(script, 20_000);
    expect(script.stdout()).toContain("connected hi");
    expect(exit.code).toBe(0);
  });

  it("an idle sandbox that is never closed does not keep the process alive", async () => {
    const script = runScript(
      `const sandbox = await connectSandbox(options);
await sandbox.readFile("/etc/hostname"); // an SFTP session stays open too
console.log("connected " + (await sandbox.exec("echo hi")).stdout.trim());`,
      server.connectOptions(), // keepalive on (10 s): it must not hold the process either
    );
    const connectedAt = await script.waitFor("connected hi");
    const exit = await exitOf(script, 15_000);
    expect(exit.signal).toBeNull(); // not killed by the guard
    expect(exit.code).toBe(0);
    expect(exit.at - connectedAt).toBeLessThan(3_000);
  });

  it("a pending call keeps the process alive until it settles, without any await", async () => {
    const script = runScript(
      `const sandbox = await connectSandbox(options);
sandbox.exec("sleep 1.5; echo late").then((result) => console.log("got " + result.stdout.trim()));
sandbox.readFile("/etc/hostname").then(() => console.log("read"));`,
      server.connectOptions(),
    );
    const exit = await exitOf(script, 15_000);
    expect(script.stdout()).toContain("got late");
    expect(script.stdout()).toContain("read");
    expect(exit.code).toBe(0);
  });
  for (const transport of ["agent", "channels"] as const) {
    it(`a file stream's writes, close and reads keep the process alive until they settle (${transport})`, async () => {
      const script = runScript(
        `const sandbox = await connectSandbox(options);
const path = sandbox.homeDir + "/lifetime-stream-" + process.pid + ".txt";
const writer = (await sandbox.writeFileStream(path)).getWriter();
for (let i = 0; i < 200; i++) await writer.write(new TextEncoder().encode("line " + i + "\\n"));
await writer.close();
let bytes = 0;
for await (const chunk of await sandbox.readFileStream(path)) bytes += chunk.length;
await sandbox.rm(path);
console.log("streamed " + bytes);`,
        { ...server.connectOptions(), transport },
      );
      const exit = await exitOf(script, 20_000);
      // Without the hold, the first await on the stream left nothing pending: exit 13.
      expect(script.stdout()).toContain("streamed 1690"); // 200 lines "line N\n"
      expect(exit.code).toBe(0);
    });

    it(`a shell session's runs and close keep the process alive; an open idle session does not (${transport})`, async () => {
      const script = runScript(
        `const sandbox = await connectSandbox(options);
const shell = await sandbox.openShell();
await shell.run("cd /tmp; sleep 0.5");
console.log("ran " + (await shell.run("pwd")).stdout.trim());
await shell.close();
const idle = await sandbox.openShell();
console.log("idle open");`,
        { ...server.connectOptions(), transport },
      );
      const exit = await exitOf(script, 20_000);
      expect(script.stdout()).toContain("ran /tmp");
      expect(script.stdout()).toContain("idle open");
      expect(exit.code).toBe(0);
    });
  }
});
