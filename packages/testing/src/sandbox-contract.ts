import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Sandbox, SandboxErrorCode } from "@exedev-sandbox/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defineDirectoryTransferContract } from "./directory-contract.ts";
import { defineFileStreamContract } from "./file-streams-contract.ts";
import { defineProcessContract } from "./process-contract.ts";
import { remainingProcesses } from "./remote-processes.ts";
import { defineShellContract } from "./shell-contract.ts";
import { defineTerminalContract } from "./terminal-contract.ts";

/** Faults the server under test can produce on demand, to check recovery. */
export interface SandboxContractFaults {
  /** Drops every open connection (the server itself keeps running). */
  dropConnections?(): void | Promise<void>;
  /** The server closes SFTP sessions idle for this long (ms); the suite waits past it. */
  sftpIdleCloseMs?: number;
}

/**
 * What the server under test cannot do reliably. For each missing ability the contract does not
 * skip the test: it checks the documented outcome instead (a clear SandboxError, never a hang,
 * never wrong data) and that the sandbox keeps working afterwards.
 */
export interface SandboxServerCapabilities {
  /**
   * Whether the server runs concurrent commands reliably. Dropbear 2022.82 to 2024.85 does not
   * (mkj/dropbear#321, fixed by mkj/dropbear#326): when another command's child exits while a new
   * session channel waits for its `exec`, Dropbear closes the new channel at once, so the exec is
   * refused (`channel_failed`), or output then written to that channel trips an assertion that
   * ends the server process and so the connection (`connection_failed`). When false, concurrency
   * tests accept exactly those two codes for some calls, and still check every other result.
   * @default true
   */
  reliableConcurrentExec?: boolean;
}

/** The codes a call may fail with on a server whose concurrent execs are unreliable. */
const RACY_EXEC_CODES: readonly SandboxErrorCode[] = ["channel_failed", "connection_failed"];

/** Options for {@link defineSandboxContract}. */
export interface SandboxContractOptions {
  /** Creates the sandbox under test; called once for the whole suite. */
  create(): Promise<Sandbox>;
  /** Disposes it; defaults to `sandbox.close()`. */
  dispose?(sandbox: Sandbox): Promise<void>;
  /** Fault hooks; the matching tests are skipped (visibly) when a hook is missing. */
  faults?: SandboxContractFaults;
  /** What the server cannot do; see {@link SandboxServerCapabilities}. @default everything */
  capabilities?: SandboxServerCapabilities;
  /**
   * Opens a second sandbox on the same server and login over the reference transport (one SSH
   * channel per command): a command must see exactly the same environment, working directory,
   * umask, shell, session and signal dispositions under test as there. Closed by the suite.
   */
  reference?(): Promise<Sandbox>;
  /**
   * Lines of the surroundings probe (by prefix, e.g. `"SigBlk:"`) where the reference itself is
   * wrong on this server, so they are not compared. asyncssh's own exec starts commands with
   * every signal blocked; the agent, like OpenSSH, blocks none.
   */
  referenceQuirks?: string[];
  /**
   * Run the heavy process cases (200 concurrent processes) here. They take seconds, so only a
   * few server/transport combinations set it.
   * @default false
   */
  heavyProcessCases?: boolean;
}

/**
 * What a command sees of its surroundings, one fact per line. Variables that differ between two
 * connections by nature (the client's port) or between any two commands (the run tag) are left
 * out; everything else must match.
 */
const SURROUNDINGS_PROBE = [
  // The shell by name: sshd passes its base name as argv[0], a re-exec under setsid its path.
  `echo "cwd=$(pwd)" "pwd=$PWD" "umask=$(umask)" "shell=\${0##*/}" "uid=$(id -u)" "gid=$(id -g)" "groups=$(id -G)"`,
  "grep -E '^Max (open files|processes|stack size|core file size)' /proc/$$/limits 2>/dev/null",
  'set -- $(cat /proc/$$/stat 2>/dev/null); echo "leads-session=$([ "$6" = "$$" ] && echo yes || echo no)" "leads-group=$([ "$5" = "$$" ] && echo yes || echo no)"',
  // Read by a child of the shell (/proc/self): what a program the command runs inherits, free
  // of the shell's own momentary state (it blocks SIGCHLD and holds pipes while it waits).
  "grep -E '^(SigIgn|SigBlk):' /proc/self/status 2>/dev/null",
  // Descriptors a transport could leak (low numbers); servers' own high ones (Dropbear leaks
  // fd 251 into its children) are not the transport's doing.
  `echo "fds=$(ls /proc/self/fd 2>/dev/null | awk '$1 < 100' | sort -n | tr "\\n" " ")"`,
  "env | LC_ALL=C sort | grep -v -E '^(SSH_CLIENT|SSH_CONNECTION|EXEDEV_RUN|_)='",
].join("; ");

/** Asserts that `promise` rejects with a SandboxError of `code`. */
export async function expectSandboxError(promise: Promise<unknown>, code: SandboxErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(error, `expected a SandboxError "${code}", but the call succeeded`).toBeDefined();
  expect((error as { code?: unknown }).code, String((error as Error)?.message)).toBe(code);
}

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

/**
 * Registers the suite every transport must pass: exec semantics, cancellation that really kills
 * the remote process, output handling, concurrency, every file method and its errors, and
 * recovery from connection and SFTP loss.
 */
export function defineSandboxContract(name: string, options: SandboxContractOptions): void {
  describe(`Sandbox contract: ${name}`, () => {
    let sandbox: Sandbox;
    let root: string;
    const path = (...parts: string[]): string => [root, ...parts].join("/");
    const waitUntilGone = (tag: string): Promise<string> => remainingProcesses(sandbox, tag);
    const racyExec = options.capabilities?.reliableConcurrentExec === false;
    /** Every call fulfilled, or (on a racy server only) failed with one of the documented codes. */
    const settleExecs = async <T>(calls: Array<Promise<T>>, check: (value: T, index: number) => void) => {
      const outcomes = await Promise.allSettled(calls);
      outcomes.forEach((outcome, index) => {
        if (outcome.status === "fulfilled") check(outcome.value, index);
        else if (!racyExec) throw outcome.reason;
        else
          expect(RACY_EXEC_CODES, String(outcome.reason)).toContain(
            (outcome.reason as { code?: unknown }).code,
          );
      });
    };

    beforeAll(async () => {
      sandbox = await options.create();
      root = `${sandbox.homeDir}/contract-${randomBytes(4).toString("hex")}`;
      await sandbox.mkdir(root, { recursive: true });
    });

    afterAll(async () => {
      if (!sandbox) return;
      await sandbox.rm(root, { recursive: true, force: true }).catch(() => {});
      await (options.dispose ? options.dispose(sandbox) : sandbox.close());
    });

    describe("exec", () => {
      it.skipIf(!options.reference)(
        "gives a command the same environment, directory, umask, shell and session as a channel exec",
        async () => {
          const reference = await (options.reference as () => Promise<Sandbox>)();
          try {
            const expected = await reference.exec(SURROUNDINGS_PROBE);
            const actual = await sandbox.exec(SURROUNDINGS_PROBE);
            expect(expected.exitCode).toBe(0);
            const quirks = options.referenceQuirks ?? [];
            const compared = (stdout: string): string =>
              stdout
                .split("\n")
                .filter((line) => !quirks.some((prefix) => line.startsWith(prefix)))
                .join("\n");
            expect(compared(actual.stdout)).toBe(compared(expected.stdout));
            expect(actual.stderr).toBe(expected.stderr);
            expect(actual.exitCode).toBe(0);
          } finally {
            await reference.close();
          }
        },
      );

      it("returns exit codes 0, 1 and 42 as data", async () => {
        expect((await sandbox.exec("true")).exitCode).toBe(0);
        expect((await sandbox.exec("false")).exitCode).toBe(1);
        const result = await sandbox.exec("echo out; exit 42");
        expect(result).toMatchObject({ exitCode: 42, stdout: "out\n", timedOut: false, truncated: false });
        expect(result.durationMs).toBeGreaterThan(0);
      });

      it("keeps stdout and stderr apart", async () => {
        const result = await sandbox.exec("echo to-out; echo to-err >&2; echo more-out");
        expect(result.stdout).toBe("to-out\nmore-out\n");
        expect(result.stderr).toBe("to-err\n");
      });

      it("passes quotes, $, backticks and unicode through unchanged", async () => {
        const words = ["it's", '"double"', "$HOME", "`whoami`", "a\\b", "héllo ✓ 😀 日本"];
        const command = `printf '%s\\n' ${words.map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(" ")}`;
        expect((await sandbox.exec(command)).stdout).toBe(`${words.join("\n")}\n`);
        expect((await sandbox.exec("echo \"$((6 * 7))\" 'single $x' `echo tick`")).stdout).toBe(
          "42 single $x tick\n",
        );
      });

      it("runs a command that starts with a dash or has a syntax error", async () => {
        expect((await sandbox.exec("-definitely-not-a-command")).exitCode).toBe(127);
        const broken = await sandbox.exec("echo 'unterminated");
        expect(broken.exitCode).not.toBe(0);
        expect(broken.stderr).not.toContain("EXEDEV_PGID");
      });

      it("runs in cwd, and reports a missing cwd as a failed command", async () => {
        expect((await sandbox.exec("pwd", { cwd: root })).stdout).toBe(`${root}\n`);
        const missing = await sandbox.exec("pwd", { cwd: path("no-such-dir") });
        expect(missing.exitCode).not.toBe(0);
        expect(missing.stdout).toBe("");
        expect(missing.stderr).toContain("no-such-dir");
      });

      it("sets environment variables, quoting values exactly", async () => {
        const value = "a 'b' \"c\" $d `e` \\f\nline2 ✓";
        const result = await sandbox.exec('printf %s "$FOO"; printf "|%s" "$BAR_2"', {
          env: { FOO: value, BAR_2: "x" },
        });
        expect(result.stdout).toBe(`${value}|x`);
      });

      it("feeds stdin as text or bytes, then EOF", async () => {
        expect((await sandbox.exec("cat", { stdin: "hello ✓\n" })).stdout).toBe("hello ✓\n");
        const bytes = randomBytes(200_000);
        const result = await sandbox.exec("sha256sum | cut -d' ' -f1", { stdin: bytes });
        expect(result.stdout.trim()).toBe(sha256(bytes));
        expect((await sandbox.exec("cat")).stdout).toBe(""); // no stdin: immediate EOF, no hang
      });

      it("returns output over 1 MiB whole", async () => {
        const result = await sandbox.exec("head -c 3000000 /dev/zero | tr '\\0' a");
        expect(result.stdout.length).toBe(3_000_000);
        expect(result.truncated).toBe(false);
      });

      it("cuts output at maxOutputBytes and flags it, streaming everything", async () => {
        let streamed = 0;
        const result = await sandbox.exec("head -c 500000 /dev/zero | tr '\\0' b", {
          maxOutputBytes: 1000,
          onStdout: (chunk) => {
            streamed += chunk.length;
          },
        });
        expect(result.truncated).toBe(true);
        expect(result.stdout).toBe("b".repeat(1000));
        expect(streamed).toBe(500_000);
        expect(result.exitCode).toBe(0);
      });

      it("decodes multi-byte UTF-8 across chunk boundaries", async () => {
        const chunks: string[] = [];
        // 3-byte and 4-byte characters over many SSH packets.
        const result = await sandbox.exec("for i in $(seq 1 40000); do printf '€😀'; done", {
          onStdout: (chunk) => chunks.push(chunk),
        });
        expect(result.stdout).toBe("€😀".repeat(40000));
        expect(chunks.join("")).toBe(result.stdout);
        expect(result.stdout).not.toContain("\uFFFD");
      });

      it("runs 50 commands in sequence", async () => {
        for (let i = 0; i < 50; i++) {
          expect((await sandbox.exec(`echo seq-${i}`)).stdout).toBe(`seq-${i}\n`);
        }
      });

      it("runs 100 commands at once with no failures", async () => {
        await settleExecs(
          Array.from({ length: 100 }, (_, i) => sandbox.exec(`echo par-${i}; echo err-${i} >&2`)),
          (result, i) => {
            expect(result).toMatchObject({ exitCode: 0, stdout: `par-${i}\n`, stderr: `err-${i}\n` });
          },
        );
        expect((await sandbox.exec("echo after")).stdout).toBe("after\n");
      });

      it("times out with exit 124 and kills the remote process and its children", async () => {
        const tag = `9${randomBytes(3).readUIntBE(0, 3)}.5`;
        const started = Date.now();
        const result = await sandbox.exec(`echo started; sleep ${tag} & sleep ${tag}1; echo never`, {
          timeoutMs: 700,
        });
        expect(result).toMatchObject({ exitCode: 124, timedOut: true });
        expect(result.stdout).toBe("started\n");
        expect(Date.now() - started).toBeLessThan(6000);
        expect(await waitUntilGone(`sleep ${tag}`)).toBe("");
      });

      it("rejects with code aborted when the signal fires, and kills the process", async () => {
        const tag = `8${randomBytes(3).readUIntBE(0, 3)}.5`;
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error("user pressed stop")), 500);
        await expectSandboxError(sandbox.exec(`sleep ${tag}`, { signal: controller.signal }), "aborted");
        expect(await waitUntilGone(`sleep ${tag}`)).toBe("");
        const already = AbortSignal.abort();
        const marker = path(`not-created-${randomBytes(3).toString("hex")}`);
        await expectSandboxError(sandbox.exec(`touch ${marker}`, { signal: already }), "aborted");
        expect(await sandbox.exists(marker)).toBe(false);
      });

      it("frees channel slots after timeouts", async () => {
        await settleExecs(
          Array.from({ length: 14 }, () => sandbox.exec("sleep 600", { timeoutMs: 300 })),
          (result) => expect(result).toMatchObject({ exitCode: 124, timedOut: true }),
        );
        const after = await sandbox.exec("echo free", { timeoutMs: 10_000 });
        expect(after.stdout).toBe("free\n");
      });

      it("rejects bad input with invalid_argument before running anything", async () => {
        await expectSandboxError(sandbox.exec(""), "invalid_argument");
        await expectSandboxError(sandbox.exec("   "), "invalid_argument");
        await expectSandboxError(sandbox.exec("echo a\0b"), "invalid_argument");
        await expectSandboxError(sandbox.exec("pwd", { cwd: "relative/dir" }), "invalid_argument");
        await expectSandboxError(sandbox.exec("true", { env: { "BAD-NAME": "x" } }), "invalid_argument");
        await expectSandboxError(sandbox.exec("true", { env: { OK: "a\0b" } }), "invalid_argument");
        await expectSandboxError(sandbox.exec("true", { timeoutMs: -1 }), "invalid_argument");
        await expectSandboxError(sandbox.exec("true", { timeoutMs: Number.NaN }), "invalid_argument");
        await expectSandboxError(sandbox.exec("true", { maxOutputBytes: 0 }), "invalid_argument");
      });

      it("never puts env values or the command in error messages", async () => {
        const secret = `s3cr3t-${randomBytes(4).toString("hex")}`;
        const error = await sandbox
          .exec(`echo ${secret}`, { env: { "BAD NAME": secret } })
          .catch((e: Error) => e);
        expect(String((error as Error).message)).not.toContain(secret);
      });
    });

    describe("files", () => {
      it("writes and reads text, creating parent directories", async () => {
        const file = path("a", "b", "c", "hello.txt");
        await sandbox.writeFile(file, "héllo ✓\nline 2\n");
        expect(await sandbox.readFile(file)).toBe("héllo ✓\nline 2\n");
        await sandbox.writeFile(file, "replaced");
        expect(await sandbox.readFile(file)).toBe("replaced");
        expect((await sandbox.exec(`cat ${JSON.stringify(file)}`)).stdout).toBe("replaced");
        const leftovers = (await sandbox.readdir(path("a", "b", "c"))).map((e) => e.name);
        expect(leftovers).toEqual(["hello.txt"]); // no temp files left behind
      });

      it("writes empty files and sets modes", async () => {
        await sandbox.writeFile(path("empty"), "");
        expect((await sandbox.stat(path("empty"))).size).toBe(0);
        await sandbox.writeFile(path("script.sh"), "#!/bin/sh\necho run\n", { mode: 0o755 });
        expect((await sandbox.stat(path("script.sh"))).mode).toBe(0o755);
        expect((await sandbox.exec(path("script.sh"))).stdout).toBe("run\n");
        await sandbox.writeFile(path("script.sh"), "#!/bin/sh\necho again\n");
        expect((await sandbox.stat(path("script.sh"))).mode).toBe(0o755); // kept on replace
      });

      it("round-trips a 10 MiB binary file byte-exact", async () => {
        const data = randomBytes(10 * 1024 * 1024);
        await sandbox.writeFile(path("blob.bin"), data);
        const back = await sandbox.readFileBuffer(path("blob.bin"));
        expect(back.length).toBe(data.length);
        expect(sha256(back)).toBe(sha256(data));
        const remote = await sandbox.exec(`sha256sum ${JSON.stringify(path("blob.bin"))} | cut -d' ' -f1`);
        expect(remote.stdout.trim()).toBe(sha256(data));
      });

      it("uploads and downloads files byte-exact", async () => {
        const local = mkdtempSync(join(tmpdir(), "exedev-contract-"));
        try {
          const data = randomBytes(3 * 1024 * 1024 + 17);
          writeFileSync(join(local, "up.bin"), data);
          await sandbox.uploadFile(join(local, "up.bin"), path("deep", "up.bin"));
          await sandbox.downloadFile(path("deep", "up.bin"), join(local, "nested", "down.bin"));
          expect(sha256(readFileSync(join(local, "nested", "down.bin")))).toBe(sha256(data));
          await expectSandboxError(sandbox.uploadFile(join(local, "missing"), path("x")), "not_found");
          await expectSandboxError(sandbox.downloadFile(path("missing"), join(local, "x")), "not_found");
        } finally {
          rmSync(local, { recursive: true, force: true });
        }
      });

      it("reads /proc-style files whose size is reported as 0", async () => {
        expect(await sandbox.readFile("/proc/self/status")).toContain("Name:");
      });

      it("stats files, directories and symbolic links with real values", async () => {
        const before = Date.now();
        await sandbox.writeFile(path("stat.txt"), "12345");
        const file = await sandbox.stat(path("stat.txt"));
        expect(file).toMatchObject({ isFile: true, isDirectory: false, isSymbolicLink: false, size: 5 });
        expect(Math.abs(file.mtime.getTime() - before)).toBeLessThan(60_000);
        expect(await sandbox.stat(root)).toMatchObject({ isFile: false, isDirectory: true });
        await sandbox.exec(`ln -s stat.txt link`, { cwd: root });
        expect(await sandbox.stat(path("link"))).toMatchObject({
          isFile: true,
          isSymbolicLink: true,
          size: 5,
        });
        await expectSandboxError(sandbox.stat(path("missing")), "not_found");
      });

      it("lists directories with types and sizes", async () => {
        const dir = path("list");
        await sandbox.writeFile(`${dir}/b.txt`, "bb");
        await sandbox.writeFile(`${dir}/a.txt`, "a");
        await sandbox.mkdir(`${dir}/sub`);
        await sandbox.exec("ln -s a.txt c-link", { cwd: dir });
        expect(await sandbox.readdir(dir)).toEqual([
          { name: "a.txt", type: "file", size: 1 },
          { name: "b.txt", type: "file", size: 2 },
          { name: "c-link", type: "symlink", size: expect.any(Number) },
          { name: "sub", type: "directory", size: expect.any(Number) },
        ]);
        await expectSandboxError(sandbox.readdir(path("missing")), "not_found");
        await expectSandboxError(sandbox.readdir(`${dir}/a.txt`), "not_a_directory");
      });

      it("tells whether paths exist without throwing for missing ones", async () => {
        await sandbox.writeFile(path("exists.txt"), "x");
        expect(await sandbox.exists(path("exists.txt"))).toBe(true);
        expect(await sandbox.exists(root)).toBe(true);
        expect(await sandbox.exists(path("nope", "nope"))).toBe(false);
      });

      it("makes directories, recursively or not", async () => {
        await sandbox.mkdir(path("one"));
        expect((await sandbox.stat(path("one"))).isDirectory).toBe(true);
        await expectSandboxError(sandbox.mkdir(path("one")), "already_exists");
        await expectSandboxError(sandbox.mkdir(path("two", "three")), "not_found");
        await sandbox.mkdir(path("two", "three", "four"), { recursive: true });
        await sandbox.mkdir(path("two", "three", "four"), { recursive: true });
        expect((await sandbox.stat(path("two", "three", "four"))).isDirectory).toBe(true);
        await sandbox.writeFile(path("plain"), "x");
        await expectSandboxError(sandbox.mkdir(path("plain"), { recursive: true }), "already_exists");
      });

      it("removes files and trees, honouring recursive and force exactly", async () => {
        await sandbox.writeFile(path("rm", "f.txt"), "x");
        await sandbox.writeFile(path("rm", "tree", "a", "b", "c.txt"), "x");
        await sandbox.writeFile(path("rm", "tree", "d.txt"), "x");
        await sandbox.exec("ln -s /etc escape-link", { cwd: path("rm", "tree") });
        await sandbox.rm(path("rm", "f.txt"));
        expect(await sandbox.exists(path("rm", "f.txt"))).toBe(false);
        await expectSandboxError(sandbox.rm(path("rm", "tree")), "is_a_directory");
        expect(await sandbox.exists(path("rm", "tree", "d.txt"))).toBe(true);
        await sandbox.rm(path("rm", "tree"), { recursive: true });
        expect(await sandbox.exists(path("rm", "tree"))).toBe(false);
        expect(await sandbox.exists("/etc/passwd")).toBe(true); // links are removed, not followed
        await expectSandboxError(sandbox.rm(path("rm", "missing")), "not_found");
        await sandbox.rm(path("rm", "missing"), { force: true });
      });

      it("refuses to remove / and the home directory", async () => {
        await expectSandboxError(sandbox.rm("/", { recursive: true, force: true }), "invalid_argument");
        await expectSandboxError(
          sandbox.rm(sandbox.homeDir, { recursive: true, force: true }),
          "invalid_argument",
        );
        await expectSandboxError(sandbox.rm(`${sandbox.homeDir}/`, { recursive: true }), "invalid_argument");
        expect(await sandbox.exists(sandbox.homeDir)).toBe(true);
      });

      it("renames, replacing an existing file", async () => {
        await sandbox.writeFile(path("from.txt"), "new");
        await sandbox.writeFile(path("to.txt"), "old");
        await sandbox.rename(path("from.txt"), path("to.txt"));
        expect(await sandbox.readFile(path("to.txt"))).toBe("new");
        expect(await sandbox.exists(path("from.txt"))).toBe(false);
        await expectSandboxError(sandbox.rename(path("from.txt"), path("x.txt")), "not_found");
      });

      it("reports missing files and directories-as-files precisely", async () => {
        await expectSandboxError(sandbox.readFile(path("missing.txt")), "not_found");
        await expectSandboxError(sandbox.readFileBuffer(path("missing.bin")), "not_found");
        await expectSandboxError(sandbox.readFile(root), "is_a_directory");
        await expectSandboxError(sandbox.writeFile(root, "x"), "is_a_directory");
        // A file where a parent directory should be: the parents cannot be made.
        await sandbox.writeFile(path("plain-file"), "x");
        await expectSandboxError(sandbox.writeFile(path("plain-file", "under.txt"), "x"), "already_exists");
        await expectSandboxError(sandbox.writeFile(path("plain-file", "a", "b.txt"), "x"), "already_exists");
        await expectSandboxError(sandbox.readFile(path("plain-file", "under.txt")), "not_found");
        expect(await sandbox.exists(path("plain-file", "under.txt"))).toBe(false);
      });

      it("rejects bad paths with invalid_argument", async () => {
        await expectSandboxError(sandbox.readFile("relative.txt"), "invalid_argument");
        await expectSandboxError(sandbox.writeFile("", "x"), "invalid_argument");
        await expectSandboxError(sandbox.writeFile(path("a\0b"), "x"), "invalid_argument");
        await expectSandboxError(sandbox.stat("x/y"), "invalid_argument");
        await expectSandboxError(sandbox.writeFile(path("m"), "x", { mode: 0o10000 }), "invalid_argument");
        await expectSandboxError(sandbox.writeFile(path("m"), 42 as unknown as string), "invalid_argument");
      });

      it("handles many file operations at once", async () => {
        await Promise.all(
          Array.from({ length: 40 }, (_, i) => sandbox.writeFile(path("many", `${i}.txt`), `n${i}`)),
        );
        const texts = await Promise.all(
          Array.from({ length: 40 }, (_, i) => sandbox.readFile(path("many", `${i}.txt`))),
        );
        expect(texts).toEqual(Array.from({ length: 40 }, (_, i) => `n${i}`));
        expect((await sandbox.readdir(path("many"))).length).toBe(40);
      });
    });

    defineDirectoryTransferContract(
      () => sandbox,
      () => root,
    );
    defineFileStreamContract({ sandbox: () => sandbox, path });
    defineShellContract(() => sandbox, options.reference);
    defineTerminalContract({
      sandbox: () => sandbox,
      path,
      dropConnections: options.faults?.dropConnections,
    });
    defineProcessContract({
      sandbox: () => sandbox,
      another: options.reference,
      heavy: options.heavyProcessCases,
    });

    describe("recovery", () => {
      it.skipIf(!options.faults?.dropConnections)(
        "reconnects after the server drops the connection",
        async () => {
          await sandbox.writeFile(path("before-drop"), "x");
          await options.faults?.dropConnections?.();
          await new Promise((resolve) => setTimeout(resolve, 200));
          expect((await sandbox.exec("echo back")).stdout).toBe("back\n");
          expect(await sandbox.readFile(path("before-drop"))).toBe("x");
        },
      );

      it.skipIf(!options.faults?.sftpIdleCloseMs)(
        "reopens SFTP after the server closes an idle session",
        async () => {
          await sandbox.writeFile(path("idle.txt"), "before");
          await new Promise((resolve) => setTimeout(resolve, (options.faults?.sftpIdleCloseMs ?? 0) + 1500));
          expect(await sandbox.readFile(path("idle.txt"))).toBe("before");
          await sandbox.writeFile(path("idle.txt"), "after");
          expect(await sandbox.readFile(path("idle.txt"))).toBe("after");
        },
      );
    });

    describe("lifecycle", () => {
      it("knows its home directory", () => {
        expect(sandbox.homeDir.startsWith("/")).toBe(true);
      });
    });
  });

  describe(`Sandbox contract: ${name} (close)`, () => {
    it("closes idempotently, and later calls reject with code closed", async () => {
      const sandbox = await options.create();
      await sandbox.exec("true");
      await (options.dispose ? options.dispose(sandbox) : sandbox.close());
      await sandbox.close();
      await expectSandboxError(sandbox.exec("true"), "closed");
      await expectSandboxError(sandbox.readFile(`${sandbox.homeDir}/x`), "closed");
    });
  });
}
