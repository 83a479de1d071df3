// `./pnpmw demo` until the emulator lands: a throwaway local sshd, one sandbox, real work.

import { connectSandbox } from "../packages/core/dist/index.js";
import { isRoot, startSshd, UNPRIVILEGED_TEST_USER } from "../packages/testing/src/sshd.ts";

const step = async (label, fn) => {
  const started = performance.now();
  const value = await fn();
  console.log(`  ${label} (${(performance.now() - started).toFixed(1)} ms)`);
  return value;
};

console.log("exedev-sandbox demo: a local OpenSSH server stands in for an exe.dev VM");
const server = await step("started sshd on loopback", () =>
  startSshd({ username: isRoot() ? UNPRIVILEGED_TEST_USER : undefined }),
);
try {
  const sandbox = await step("connected", () => connectSandbox(server.connectOptions()));
  const home = sandbox.homeDir;
  await step("wrote hello.py", () =>
    sandbox.writeFile(`${home}/demo/hello.py`, 'print("hello from the sandbox")\n'),
  );
  const run = await step("ran it", () =>
    sandbox.exec("python3 hello.py || echo no python3", { cwd: `${home}/demo` }),
  );
  console.log(`    -> ${run.stdout.trim()}`);
  const timed = await step("a 30 s command with timeoutMs 500", () =>
    sandbox.exec("sleep 30", { timeoutMs: 500 }),
  );
  console.log(`    -> exit ${timed.exitCode}, timedOut ${timed.timedOut}`);
  const many = await step("100 commands at once", () =>
    Promise.all(Array.from({ length: 100 }, (_, i) => sandbox.exec(`echo ${i}`))),
  );
  console.log(`    -> ${many.filter((r) => r.exitCode === 0).length} succeeded`);
  await step("removed the demo directory", () => sandbox.rm(`${home}/demo`, { recursive: true }));
  await sandbox.close();
  console.log("done");
} finally {
  await server.stop();
}
