// The loop through the Paperclip plugin's worker process, called as the Paperclip server calls it
// (JSON-RPC over stdio, environmentExecute on a lease). Paperclip gives agents commands only, so
// file steps are commands too: cat to read, stdin into cat to write, find to list. A stand-in
// exe.dev API routes the lease's VM to the benchmark's sshd.
import { routeLobbyToSshd, startLobbyServer } from "../../packages/testing/src/lobby-server.ts";
import { startPaperclipWorker } from "../../scripts/paperclip-worker.mjs";

export async function createLeg({ cwd, server }) {
  const { DRIVER_KEY } = await import("../../packages/paperclip/dist/index.js");
  const lobby = await startLobbyServer({ sshStyle: "gateway" });
  routeLobbyToSshd(lobby, server);
  const worker = await startPaperclipWorker({ env: { PATH: process.env.PATH } });
  const environment = {
    driverKey: DRIVER_KEY,
    companyId: "bench",
    environmentId: "bench",
    config: {
      apiKey: lobby.token,
      apiUrl: lobby.url,
      privateKey: server.privateKey,
      hostKey: server.hostKeyFingerprint,
    },
  };
  const lease = await worker.call("environmentAcquireLease", {
    ...environment,
    runId: "bench",
    requestedCwd: cwd,
  });

  const execute = async (command, args, stdin) => {
    const result = await worker.call("environmentExecute", { ...environment, lease, command, args, stdin });
    if (result.exitCode !== 0) throw new Error(`${command} exited ${result.exitCode}: ${result.stderr}`);
    return result.stdout;
  };
  const write = (path, content) =>
    execute("sh", ["-c", 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"', "sh", path], content);
  const steps = {
    bash: ({ command }) =>
      worker.call("environmentExecute", { ...environment, lease, command: "sh", args: ["-c", command] }),
    readFile: ({ path }) => execute("cat", ["--", path]),
    writeFile: ({ path, content }) => write(path, content),
    editFile: async ({ path, oldString, newString }) =>
      write(
        path,
        (await execute("cat", ["--", path])).replace(oldString, () => newString),
      ),
    listFiles: ({ path, depth }) => execute("find", [path, "-maxdepth", String(depth ?? 1)]),
  };
  return {
    name: "paperclip (worker environmentExecute)",
    runStep: ({ tool, input }) => steps[tool](input),
    async close() {
      // Destroying the lease removes the stand-in VM; the directory is the shared sshd account's.
      await worker.call("environmentDestroyLease", {
        ...environment,
        providerLeaseId: lease.providerLeaseId,
      });
      await worker.stop();
      await lobby.close();
    },
  };
}
