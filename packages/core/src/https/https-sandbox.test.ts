import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox } from "../sandbox.js";
import { buildKillCommand } from "../ssh/remote-command.js";
import { encodeBase64, randomHex } from "./base64.js";
import { MAX_BODY_BYTES } from "./frame.js";
import { createHttpsSandbox } from "./https-sandbox.js";
import { createHttpsTransport } from "./https-transport.js";
import { createLocalExecFetch } from "./local-exec-fetch.test-support.js";
import { buildKillScript, EXEC_SCRIPT } from "./scripts.js";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => "resolved",
    (error: { code?: unknown }) => error.code,
  );
}

describe("createHttpsSandbox's scripts, run by a local sh", () => {
  let sandbox: Sandbox;
  let root: string;
  let largestBody = 0;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "https-sandbox-"));
    const fetch = createLocalExecFetch({
      onBody: (body) => (largestBody = Math.max(largestBody, body.length)),
    });
    sandbox = await createHttpsSandbox({
      vm: "local-vm",
      api: { token: "exe1.TESTTOKEN", fetch },
      pollWaitMs: 1000,
    });
  });
  afterAll(async () => {
    await sandbox?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("reads the home directory", () => {
    expect(sandbox.homeDir).toBe(process.env.HOME);
  });

  it("returns exit codes from the marker and keeps stdout and stderr apart", async () => {
    expect((await sandbox.exec("true")).exitCode).toBe(0);
    expect((await sandbox.exec("false")).exitCode).toBe(1);
    const result = await sandbox.exec("echo out; echo err >&2; exit 42");
    expect(result).toMatchObject({ exitCode: 42, stdout: "out\n", stderr: "err\n", timedOut: false });
  });

  it("passes binary output and marker look-alikes through untouched", async () => {
    const result = await sandbox.exec(
      "printf 'EXEDEV-0123 EXIT 0 0 0\\n\\000\\377\\001'; printf 'EXEDEV-abc RUN 1 1\\n' >&2",
    );
    expect(result.exitCode).toBe(0);
    expect(Buffer.from(result.stdout, "utf8").subarray(0, 23).toString()).toBe("EXEDEV-0123 EXIT 0 0 0\n");
    expect(result.stdout.endsWith("\u0000\uFFFD\u0001")).toBe(true);
    expect(result.stderr).toBe("EXEDEV-abc RUN 1 1\n");
  });

  it("polls a command that outlives one request", async () => {
    const chunks: string[] = [];
    const result = await sandbox.exec("echo one; sleep 2.5; echo two", { onStdout: (c) => chunks.push(c) });
    expect(result).toMatchObject({ exitCode: 0, stdout: "one\ntwo\n" });
    expect(chunks.join("")).toBe("one\ntwo\n");
  });

  it("applies cwd, env and stdin, inline and as an uploaded file", async () => {
    const value = "a 'b' \"c\" $d `e` \\f\nline2 ✓";
    const result = await sandbox.exec('pwd; printf %s "$FOO"', { cwd: root, env: { FOO: value } });
    expect(result.stdout).toBe(`${root}\n${value}`);
    expect((await sandbox.exec("cat", { stdin: "hello ✓\n" })).stdout).toBe("hello ✓\n");
    const bytes = randomBytes(200_000);
    const hashed = await sandbox.exec("sha256sum | cut -d' ' -f1", { stdin: bytes });
    expect(hashed.stdout.trim()).toBe(sha256(bytes));
    expect(largestBody).toBeLessThanOrEqual(MAX_BODY_BYTES);
  });

  it("cuts output at maxOutputBytes and flags it", async () => {
    const result = await sandbox.exec("head -c 500000 /dev/zero | tr '\\0' b", { maxOutputBytes: 1000 });
    expect(result).toMatchObject({ truncated: true, stdout: "b".repeat(1000), exitCode: 0 });
  });

  it("times out with exit 124 and kills the job by its tag", async () => {
    const tag = `7${randomBytes(3).readUIntBE(0, 3)}.5`;
    const result = await sandbox.exec(`echo started; sleep ${tag} & sleep ${tag}1`, { timeoutMs: 700 });
    expect(result).toMatchObject({ exitCode: 124, timedOut: true, stdout: "started\n" });
    const left = await sandbox.exec(`ps -eo args | grep -F 'sleep ${tag}' | grep -v grep || true`);
    expect(left.stdout).toBe("");
  });

  it("rejects with aborted and kills the job", async () => {
    const tag = `6${randomBytes(3).readUIntBE(0, 3)}.5`;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    expect(await codeOf(sandbox.exec(`sleep ${tag}`, { signal: controller.signal }))).toBe("aborted");
    for (let i = 0; i < 50; i++) {
      const left = await sandbox.exec(`ps -eo args | grep -F 'sleep ${tag}' | grep -v grep || true`);
      if (left.stdout === "") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const left = await sandbox.exec(`ps -eo args | grep -F 'sleep ${tag}' | grep -v grep || true`);
    expect(left.stdout).toBe("");
  });

  it("validates before any I/O", async () => {
    expect(await codeOf(sandbox.exec(""))).toBe("invalid_argument");
    expect(await codeOf(sandbox.exec("true", { env: { "BAD-NAME": "x" } }))).toBe("invalid_argument");
    expect(await codeOf(sandbox.exec("true", { timeoutMs: -1 }))).toBe("invalid_argument");
    expect(await codeOf(sandbox.readFile("relative"))).toBe("invalid_argument");
    expect(await codeOf(sandbox.writeFile(`${root}/m`, "x", { mode: 0o10000 }))).toBe("invalid_argument");
    expect(await codeOf(sandbox.exec(`echo ${"x".repeat(70_000)}`))).toBe("invalid_argument");
    expect(await codeOf(createHttpsSandbox({ vm: "Bad Name", api: { token: "t" } }))).toBe(
      "invalid_argument",
    );
  });

  it("round-trips a binary file in chunks, atomically, keeping the mode", async () => {
    const data = randomBytes(300 * 1024 + 7);
    const file = `${root}/deep/dir/blob.bin`;
    await sandbox.writeFile(file, data, { mode: 0o755 });
    expect(sha256(await sandbox.readFileBuffer(file))).toBe(sha256(data));
    await sandbox.writeFile(file, "again");
    expect(await sandbox.stat(file)).toMatchObject({ isFile: true, size: 5, mode: 0o755 });
    expect((await sandbox.readdir(`${root}/deep/dir`)).map((entry) => entry.name)).toEqual(["blob.bin"]);
    expect(await codeOf(sandbox.readFile(file, { maxBytes: 4 }))).toBe("too_large");
    expect(await sandbox.readFile("/proc/self/status")).toContain("Name:");
  });

  it("maps file errors to the SSH sandboxes' codes", async () => {
    await sandbox.writeFile(`${root}/plain`, "x");
    expect(await codeOf(sandbox.readFile(`${root}/missing`))).toBe("not_found");
    expect(await codeOf(sandbox.readFile(root))).toBe("is_a_directory");
    expect(await codeOf(sandbox.writeFile(root, "x"))).toBe("is_a_directory");
    expect(await codeOf(sandbox.writeFile(`${root}/plain/a/b`, "x"))).toBe("already_exists");
    expect(await codeOf(sandbox.stat(`${root}/missing`))).toBe("not_found");
    expect(await codeOf(sandbox.readdir(`${root}/plain`))).toBe("not_a_directory");
    await sandbox.mkdir(`${root}/one`);
    expect(await codeOf(sandbox.mkdir(`${root}/one`))).toBe("already_exists");
    expect(await codeOf(sandbox.mkdir(`${root}/two/three`))).toBe("not_found");
    await sandbox.mkdir(`${root}/two/three`, { recursive: true });
    expect(await codeOf(sandbox.rm(`${root}/two`))).toBe("is_a_directory");
    await sandbox.rm(`${root}/two`, { recursive: true });
    expect(await sandbox.exists(`${root}/two`)).toBe(false);
    expect(await codeOf(sandbox.rm(`${root}/two`))).toBe("not_found");
    await sandbox.rm(`${root}/two`, { force: true });
    expect(await codeOf(sandbox.rm(sandbox.homeDir, { recursive: true }))).toBe("invalid_argument");
    await sandbox.rename(`${root}/plain`, `${root}/renamed`);
    expect(await sandbox.readFile(`${root}/renamed`)).toBe("x");
    expect(await codeOf(sandbox.rename(`${root}/plain`, `${root}/x`))).toBe("not_found");
    await sandbox.exec("ln -s renamed link", { cwd: root });
    expect(await sandbox.stat(`${root}/link`)).toMatchObject({ isFile: true, isSymbolicLink: true, size: 1 });
    const names = (await sandbox.readdir(root)).map((entry) => `${entry.name}:${entry.type}`);
    expect(names).toEqual(["deep:directory", "link:symlink", "one:directory", "renamed:file"]);
  });

  it("rejects what needs a local file system or a persistent channel with unsupported", async () => {
    expect(await codeOf(sandbox.uploadFile("/a", "/b"))).toBe("unsupported");
    expect(await codeOf(sandbox.spawn("true"))).toBe("unsupported");
    expect(await codeOf(sandbox.openShell())).toBe("unsupported");
  });

  it("runs 100 commands at once, each with its own output", async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => sandbox.exec(`echo par-${i}; echo err-${i} >&2`)),
    );
    results.forEach((result, i) => {
      expect(result).toMatchObject({ exitCode: 0, stdout: `par-${i}\n`, stderr: `err-${i}\n` });
    });
  });

  it("streams everything past maxOutputBytes and decodes UTF-8 split across responses", async () => {
    let streamed = 0;
    const cut = await sandbox.exec("head -c 500000 /dev/zero | tr '\\0' b", {
      maxOutputBytes: 1000,
      onStdout: (chunk) => {
        streamed += chunk.length;
      },
    });
    expect(cut).toMatchObject({ truncated: true, stdout: "b".repeat(1000) });
    expect(streamed).toBe(500_000);
    const chunks: string[] = [];
    const text = await sandbox.exec("for i in $(seq 1 3000); do printf '€😀'; sleep 0.0005; done", {
      onStdout: (chunk) => chunks.push(chunk),
    });
    expect(text.stdout).toBe("€😀".repeat(3000));
    expect(chunks.join("")).toBe(text.stdout);
  });

  it("round-trips a 1 MiB binary file with a matching SHA-256, every request within 64 KiB", async () => {
    const data = randomBytes(1024 * 1024);
    largestBody = 0;
    await sandbox.writeFile(`${root}/mib.bin`, data);
    expect(largestBody).toBeLessThanOrEqual(MAX_BODY_BYTES);
    expect(sha256(await sandbox.readFileBuffer(`${root}/mib.bin`))).toBe(sha256(data));
    const remote = await sandbox.exec(`sha256sum ${root}/mib.bin | cut -d' ' -f1`);
    expect(remote.stdout.trim()).toBe(sha256(data));
  });
});

describe("the exec scripts", () => {
  it("stop a job whose kill overtook its start request, and clean up after it", async () => {
    const transport = createHttpsTransport("local-vm", {
      token: "exe1.TESTTOKEN",
      fetch: createLocalExecFetch(),
    });
    const dir = mkdtempSync(join(tmpdir(), "https-tomb-"));
    try {
      const tag = `exedev-run-${randomHex(9)}`;
      const kill = buildKillScript(buildKillCommand([{ tag }]));
      await transport.run(kill, [tag, "1"], "kill");
      const line = encodeBase64(new TextEncoder().encode(`touch ${dir}/ran`));
      const args = ["start", "-", line, "-", tag, "10", "0", "100", "0", "100", "1000"];
      const frames = await transport.run(EXEC_SCRIPT, args, "exec");
      expect(frames.map((frame) => frame.kind)).toContain("RUN"); // the job never ran, so never ended
      expect(existsSync(`${dir}/ran`)).toBe(false);
      await transport.run(kill, [tag, "0"], "kill");
      const left = readdirSync(process.env.TMPDIR ?? "/tmp").filter((name) => name.includes(tag));
      expect(left).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the exec script's temp directory", () => {
  it("is private while the job runs and removed once its output is read", async () => {
    const transport = createHttpsTransport("local-vm", {
      token: "exe1.TESTTOKEN",
      fetch: createLocalExecFetch(),
    });
    const tag = `exedev-run-${randomHex(9)}`;
    const line = encodeBase64(new TextEncoder().encode("echo hi"));
    const frames = await transport.run(
      EXEC_SCRIPT,
      ["start", "-", line, "-", tag, "100", "0", "100", "0", "100", "1000"],
      "exec",
    );
    const dir = frames.find((frame) => frame.kind === "DIR")?.fields[0] ?? "";
    expect(dir).toContain(tag);
    expect(frames.map((frame) => frame.kind)).toEqual(["DIR", "O", "EXIT", "CLEAN"]);
    expect(existsSync(dir)).toBe(false);
    const running = await transport.run(
      EXEC_SCRIPT,
      [
        "start",
        "-",
        encodeBase64(new TextEncoder().encode("sleep 5")),
        "-",
        `${tag}b`,
        "0",
        "0",
        "100",
        "0",
        "100",
        "1000",
      ],
      "exec",
    );
    const runningDir = running.find((frame) => frame.kind === "DIR")?.fields[0] ?? "";
    expect(statSync(runningDir).mode & 0o777).toBe(0o700);
    await transport.run(buildKillScript(buildKillCommand([{ tag: `${tag}b` }])), [`${tag}b`, "0"], "kill");
    expect(existsSync(runningDir)).toBe(false);
  });
});

describe("createHttpsSandbox with the default 20 s poll wait", () => {
  it("runs a 40 s command over requests that each stay under exe.dev's 30 s limit", {
    timeout: 90_000,
  }, async () => {
    const requestMs: number[] = [];
    const local = createLocalExecFetch();
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const started = Date.now();
      try {
        return await local(input, init);
      } finally {
        requestMs.push(Date.now() - started);
      }
    };
    const sandbox = await createHttpsSandbox({ vm: "local-vm", api: { token: "exe1.TESTTOKEN", fetch } });
    try {
      requestMs.length = 0;
      const result = await sandbox.exec("sleep 40; echo done");
      expect(result).toMatchObject({ exitCode: 0, stdout: "done\n", stderr: "", timedOut: false });
      expect(requestMs.length).toBeGreaterThanOrEqual(2);
      expect(Math.max(...requestMs)).toBeLessThan(30_000);
    } finally {
      await sandbox.close();
    }
  });
});
