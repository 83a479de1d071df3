// The way existing exe.dev plugins do it, for comparison: one `ssh` process per operation
// (files go through `cat`), with the plugins' own argv. Written only for this benchmark.
import { execFile } from "node:child_process";
import { sshArgs } from "../packages/core/bench/bench-kit.mjs";

const quote = (word) => `'${word.replaceAll("'", `'\\''`)}'`;

/** A tool loop leg that spawns `ssh` for every step. */
export function sshPerCommandLeg({ host, port, username, keyPath, knownHostsPath, cwd }) {
  const ssh = (command, input) =>
    new Promise((resolve, reject) => {
      const child = execFile(
        "ssh",
        [...sshArgs({ host, port, username, keyPath, knownHostsPath }), command],
        { maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) =>
          error && error.code === 255
            ? reject(error)
            : resolve({ stdout, stderr, exitCode: error?.code ?? 0 }),
      );
      child.stdin.end(input ?? "");
    });
  const at = (path) => (path.startsWith("/") ? path : `${cwd}/${path}`);
  return {
    name: "ssh process per command",
    async runStep({ tool, input }) {
      switch (tool) {
        case "bash":
          return ssh(`cd ${quote(cwd)} && ${input.command}`);
        case "readFile":
          return ssh(`cat ${quote(at(input.path))}`);
        case "writeFile":
          return ssh(
            `mkdir -p "$(dirname ${quote(at(input.path))})" && cat > ${quote(at(input.path))}`,
            input.content,
          );
        case "editFile": {
          const { stdout } = await ssh(`cat ${quote(at(input.path))}`);
          return ssh(
            `cat > ${quote(at(input.path))}`,
            stdout.replace(input.oldString, () => input.newString),
          );
        }
        case "listFiles":
          return ssh(`cd ${quote(at(input.path))} && find . -maxdepth ${input.depth ?? 2}`);
        default:
          throw new Error(`unknown tool ${tool}`);
      }
    },
  };
}
