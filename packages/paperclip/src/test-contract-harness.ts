import type { AdapterSetup, KillableMachine } from "@exedev-sandbox/testing";
import { routeLobbyToSshd, startLobbyServer } from "@exedev-sandbox/testing";
import { assertExecutionLifecycle } from "@paperclipai/plugin-sdk/testing";
import { DRIVER_KEY } from "./manifest.js";
import { createExeDevPlugin } from "./plugin.js";
import { harnessFor } from "./test-emulator.js";

// Paperclip moves files with sync hooks the SDK's harness does not drive, so the contract's file
// calls go through `execute` too: the path as an argument, the content on stdin.
const WRITE = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"';

/**
 * The plugin on a lease of `machine`, reached only through the SDK's environment harness: a
 * stand-in exe.dev API routes the VM to the machine's hop, `execute` runs every contract call,
 * and a timeout (Paperclip's `timedOut`, no exit code) reads as exit 124. Dispose releases the
 * lease and checks the harness saw every execute inside it.
 */
export async function paperclipContractSetup(machine: KillableMachine): Promise<AdapterSetup> {
  const { server } = machine;
  const lobby = await startLobbyServer({ sshStyle: "gateway" });
  routeLobbyToSshd(lobby, { ...server, port: machine.port });
  const plugin = createExeDevPlugin({ env: {} });
  const harness = await harnessFor(plugin);
  const config = {
    apiKey: lobby.token,
    apiUrl: lobby.url,
    privateKey: server.privateKey,
    hostKey: server.hostKeyFingerprint,
  };
  const base = { driverKey: DRIVER_KEY, companyId: "company-1", environmentId: "env-contract", config };
  const lease = await harness.acquireLease({ ...base, runId: "run-contract" });
  type Extra = { args?: string[]; stdin?: string; cwd?: string | undefined; timeoutMs?: number | undefined };
  const run = async (script: string, { args = [], cwd, timeoutMs, ...rest }: Extra) => {
    const result = await harness.execute({
      ...base,
      lease,
      command: "sh",
      args: ["-c", script, "sh", ...args],
      ...rest,
      ...(cwd === undefined ? {} : { cwd }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    return {
      exitCode: result.timedOut ? 124 : (result.exitCode ?? -1),
      stdout: result.stdout,
      stderr: result.stderr,
    };
  };
  return {
    harness: {
      exec: (command, options) => run(command, { cwd: options?.cwd, timeoutMs: options?.timeoutMs }),
      readFile: async (path) => {
        const result = await run('cat -- "$1"', { args: [path] });
        if (result.exitCode !== 0) throw new Error(result.stderr);
        return result.stdout;
      },
      writeFile: async (path, content) => {
        const result = await run(WRITE, { args: [path], stdin: content });
        if (result.exitCode !== 0) throw new Error(result.stderr);
      },
    },
    dispose: async () => {
      await harness.releaseLease({ ...base, providerLeaseId: lease.providerLeaseId }).catch(() => {});
      await plugin.definition.onShutdown?.();
      await lobby.close();
      assertExecutionLifecycle(harness.environmentEvents, base.environmentId);
    },
  };
}
