import { randomBytes } from "node:crypto";
import { isSandboxError, type Sandbox } from "@exedev-sandbox/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KillableMachine, startKillableMachine } from "./killable-machine.ts";
import { remainingProcesses } from "./remote-processes.ts";
import type { StartSshdOptions } from "./sshd.ts";

/** The result shape every adapter can produce for a command, whatever its framework calls it. */
export interface AdapterExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /**
   * For `"error-result"` frameworks: the `SandboxError` code of the error result the tool
   * returned instead of running the command (e.g. `"sandbox_died"`). Absent when it ran.
   */
  errorCode?: string;
}

/**
 * One adapter, reached only through its host framework's own entry points (Flue's
 * `sandboxFromDriver`, the AI SDK's tool loop, LangChain's `tool.invoke`, Paperclip's harness).
 * Each method maps the framework's result back to plain values; nothing here may call core.
 */
export interface AdapterHarness {
  exec(
    command: string,
    options?: { cwd?: string; timeoutMs?: number; signal?: AbortSignal },
  ): Promise<AdapterExecResult>;
  readFile(path: string): Promise<string>;
  writeFile(path: string, content: string): Promise<void>;
}

/** What {@link AdapterContractOptions.setup} hands back: the adapter, and how to release it. */
export interface AdapterSetup {
  /** The adapter under test. */
  harness: AdapterHarness;
  /** Releases what setup made (connections, factories); the machine itself is the suite's. */
  dispose?(): Promise<void>;
}

/** Options for {@link defineAdapterContract}. */
export interface AdapterContractOptions {
  /**
   * Builds the adapter on a fresh {@link KillableMachine} (point it at `machine.connectOptions()`
   * or `machine.port`). The suite checks results on `machine.checker`, kills the machine for the
   * died test and disposes of it afterwards.
   */
  setup(machine: KillableMachine): Promise<AdapterSetup>;
  /**
   * How the machine's sshd starts, e.g. `{ username: UNPRIVILEGED_TEST_USER }` for an adapter
   * whose commands run in login shells: the contract kills commands 600 ms after they start,
   * which as root can land inside the host account's own profile (this machine's runs
   * `pyenv init`, whose killed rehash leaves a lock that makes every later login shell on the
   * host wait 60 s). A fresh unprivileged account has only the distribution's default profile.
   * @default the current user
   */
  sshd?: StartSshdOptions;
  /** What the framework can express; scenarios it cannot are skipped, visibly. */
  capabilities?: { cwd?: boolean; timeout?: boolean; abort?: boolean };
  /**
   * How a failure (a missing file) reaches the caller: `"rejects"` (the harness call throws) or
   * `"error-result"` (the harness returns text the model can read; `readFile` then resolves with
   * text that mentions the path).
   */
  failures: "rejects" | "error-result";
  /**
   * Recognises the framework's "the sandbox died" error, for `"rejects"` frameworks that define
   * one. `"error-result"` frameworks always run the machine-gone scenario: their exec must then
   * return `errorCode: "sandbox_died"` or reject with core's `sandbox_died` SandboxError.
   */
  isDiedError?(error: unknown): boolean;
}

/**
 * Registers the scenarios every framework adapter must pass, against a real machine: files
 * written through the adapter are the files the machine has (and back), commands keep exit codes
 * and streams apart, timeouts kill the remote process, failures are reported the framework's way.
 */
export function defineAdapterContract(name: string, options: AdapterContractOptions): void {
  const can = { cwd: true, timeout: true, abort: false, ...options.capabilities };
  describe(`Adapter contract: ${name}`, () => {
    let setup: Started;
    let root: string;
    beforeAll(async () => {
      setup = await start(options);
      root = `${setup.sandbox.homeDir}/adapter-${randomBytes(4).toString("hex")}`;
      await setup.sandbox.mkdir(root, { recursive: true });
    });
    afterAll(async () => {
      await setup?.sandbox.rm(root, { recursive: true, force: true }).catch(() => {});
      await setup?.dispose();
    });

    it("writes files the machine sees, and reads files the machine wrote", async () => {
      const text = "héllo ✓ 😀\nline two\n";
      await setup.harness.writeFile(`${root}/from-adapter.txt`, text);
      expect(await setup.sandbox.readFile(`${root}/from-adapter.txt`)).toBe(text);
      await setup.sandbox.writeFile(`${root}/from-machine.txt`, "machine → adapter\n");
      expect(await setup.harness.readFile(`${root}/from-machine.txt`)).toContain("machine → adapter");
    });

    it("creates parent directories when writing", async () => {
      await setup.harness.writeFile(`${root}/a/b/c.txt`, "deep");
      expect(await setup.sandbox.readFile(`${root}/a/b/c.txt`)).toBe("deep");
    });

    it("runs commands with exit codes and separate streams", async () => {
      const ok = await setup.harness.exec("echo out; echo err >&2");
      expect(ok).toMatchObject({ exitCode: 0 });
      expect(ok.stdout).toContain("out");
      expect(ok.stderr).toContain("err");
      expect(ok.stdout).not.toContain("err");
      expect((await setup.harness.exec("exit 3")).exitCode).toBe(3);
    });

    it.skipIf(!can.cwd)("runs commands in the requested directory", async () => {
      expect((await setup.harness.exec("pwd", { cwd: root })).stdout.trim()).toBe(root);
    });

    it.skipIf(!can.timeout)("times out with exit 124 and kills the remote process", async () => {
      const tag = `7${randomBytes(3).readUIntBE(0, 3)}.25`;
      const result = await setup.harness.exec(`sleep ${tag}`, { timeoutMs: 600 });
      expect(result.exitCode).toBe(124);
      expect(await remainingProcesses(setup.sandbox, `sleep ${tag}`)).toBe("");
    });

    it.skipIf(!can.abort)("stops on abort and kills the remote process", async () => {
      const tag = `6${randomBytes(3).readUIntBE(0, 3)}.25`;
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 400);
      const outcome = await setup.harness.exec(`sleep ${tag}`, { signal: controller.signal }).then(
        () => "resolved",
        () => "rejected",
      );
      expect(outcome).toBe("rejected");
      expect(await remainingProcesses(setup.sandbox, `sleep ${tag}`)).toBe("");
    });

    it("reports a missing file the framework's way", async () => {
      const missing = `${root}/does-not-exist.txt`;
      if (options.failures === "rejects") {
        await expect(setup.harness.readFile(missing)).rejects.toBeDefined();
      } else {
        expect(await setup.harness.readFile(missing)).toMatch(/does-not-exist\.txt|not found|no such file/i);
      }
    });
  });

  // Tool-style frameworks report a dead sandbox either as an error result or by rejecting with
  // core's SandboxError (the framework's tool-error path, which an agent loop can stop on).
  const { isDiedError } = options;
  const isDied =
    options.failures === "error-result"
      ? (outcome: { result?: AdapterExecResult; error?: unknown }) =>
          outcome.result?.errorCode === "sandbox_died" || isSandboxError(outcome.error, "sandbox_died")
      : isDiedError && ((outcome: { error?: unknown }) => isDiedError(outcome.error));
  if (isDied) {
    describe(`Adapter contract: ${name} (machine gone)`, () => {
      it("reports that the sandbox died once the machine is gone", async () => {
        const setup = await start(options);
        try {
          expect((await setup.harness.exec("echo alive")).stdout).toContain("alive");
          await setup.killMachine();
          const outcome = await setup.harness.exec("echo gone").then(
            (result) => ({ result, error: undefined }),
            (error: unknown) => ({ result: undefined, error }),
          );
          expect(
            isDied(outcome),
            `expected the framework's sandbox-died report, got ${describeOutcome(outcome)}`,
          ).toBe(true);
        } finally {
          await setup.dispose();
        }
      });
    });
  }
}

/** A started adapter: its harness, the machine's checker, and the machine's controls. */
interface Started {
  harness: AdapterHarness;
  sandbox: Sandbox;
  killMachine(): Promise<void>;
  dispose(): Promise<void>;
}

async function start(options: AdapterContractOptions): Promise<Started> {
  const machine = await startKillableMachine(options.sshd);
  try {
    const adapter = await options.setup(machine);
    return {
      harness: adapter.harness,
      sandbox: machine.checker,
      killMachine: machine.killMachine,
      dispose: async () => {
        await adapter.dispose?.();
        await machine.dispose();
      },
    };
  } catch (error) {
    await machine.dispose();
    throw error;
  }
}

function describeOutcome(outcome: { result?: AdapterExecResult; error?: unknown }): string {
  return outcome.result ? JSON.stringify(outcome.result) : String(outcome.error);
}
