import { randomBytes } from "node:crypto";
import {
  describeWithSshd,
  expectSandboxError,
  isRoot,
  remainingProcesses,
  startForwarder,
  UNPRIVILEGED_TEST_USER,
  useSshd,
} from "@exedev-sandbox/testing";
import { describe, expect, it } from "vitest";
import { connectSandbox } from "../index.js";

/** A sleep no other test runs: its duration shows in `ps`, so it finds exactly this command's processes. */
const uniqueSleep = (): string => `sleep ${100_000 + (randomBytes(3).readUIntBE(0, 3) % 800_000)}`;

describeWithSshd("the agent transport on OpenSSH", () => {
  describe.each([10, 1])("with MaxSessions %i", (maxSessions) => {
    const sshd = useSshd({ maxSessions });

    it("runs 1,000 concurrent commands on one sandbox, every one right, none failed", async () => {
      const sandbox = await connectSandbox({ ...(await sshd()).connectOptions(), transport: "agent" });
      try {
        const results = await Promise.allSettled(
          Array.from({ length: 1000 }, (_, i) =>
            sandbox.exec(`echo out-${i}; echo err-${i} >&2; exit ${i % 7}`),
          ),
        );
        const wrong = results.filter(
          (result, i) =>
            result.status !== "fulfilled" ||
            result.value.stdout !== `out-${i}\n` ||
            result.value.stderr !== `err-${i}\n` ||
            result.value.exitCode !== i % 7,
        );
        expect(wrong.length, String((wrong[0] as PromiseRejectedResult | undefined)?.reason ?? "")).toBe(0);
        // Files go the same way: through the agent's one channel, not SFTP's.
        await sandbox.writeFile(`${sandbox.homeDir}/agent-max-sessions.txt`, "one channel");
        expect(await sandbox.readFile(`${sandbox.homeDir}/agent-max-sessions.txt`)).toBe("one channel");
        await sandbox.rm(`${sandbox.homeDir}/agent-max-sessions.txt`);
      } finally {
        await sandbox.close();
      }
    });
  });

  describe("lifecycle", () => {
    const sshd = useSshd({});
    const reference = async () =>
      connectSandbox({ ...(await sshd()).connectOptions(), transport: "channels" });

    it("kills what it started when the sandbox is closed", async () => {
      const sleep = uniqueSleep();
      const sandbox = await connectSandbox({ ...(await sshd()).connectOptions(), transport: "agent" });
      // One child in the group, one that left it (its own session), one in the foreground.
      const running = sandbox.exec(`${sleep} & setsid ${sleep} & ${sleep}; wait`);
      running.catch(() => {});
      const observer = await reference();
      try {
        await expect
          .poll(async () => (await observer.exec(`pgrep -c -f '^${sleep}$' || true`)).stdout.trim())
          .toBe("3");
        await sandbox.close();
        expect(await remainingProcesses(observer, sleep)).toBe("");
      } finally {
        await observer.close();
      }
    });

    it("restarts after the agent dies; the command it ran fails and is killed", async () => {
      const sleep = uniqueSleep();
      const sandbox = await connectSandbox({ ...(await sshd()).connectOptions(), transport: "agent" });
      const observer = await reference();
      try {
        const running = sandbox.exec(`setsid ${sleep} & ${sleep}; wait`);
        // It rejects when the agent dies, possibly before the kill command's own call returns.
        running.catch(() => {});
        await expect
          .poll(async () => (await observer.exec(`pgrep -c -f '^${sleep}$' || true`)).stdout.trim())
          .toBe("2");
        // A command's parent is the agent that forked it.
        const agentPid = (await sandbox.exec("echo $PPID")).stdout.trim();
        expect(agentPid).toMatch(/^\d+$/);
        await observer.exec(`kill -KILL ${agentPid}`);
        await expectSandboxError(running, "channel_failed");
        expect((await sandbox.exec("echo back")).stdout).toBe("back\n");
        expect(sandbox.transport).toBe("agent");
        expect(await remainingProcesses(observer, sleep)).toBe("");
      } finally {
        await sandbox.close();
        await observer.close();
      }
    });

    it("rejects an unknown transport before any I/O", async () => {
      await expectSandboxError(
        connectSandbox({ ...(await sshd()).connectOptions(), transport: "http" as never }),
        "invalid_argument",
      );
    });

    it("reports the transport in use", async () => {
      const options = (await sshd()).connectOptions();
      for (const [choice, expected] of [
        [undefined, "agent"],
        ["auto", "agent"],
        ["agent", "agent"],
        ["channels", "channels"],
      ] as const) {
        const sandbox = await connectSandbox({ ...options, transport: choice });
        expect(sandbox.transport).toBe(expected);
        await sandbox.close();
      }
    });
  });

  describe("under cuts of the network path", () => {
    const sshd = useSshd({});

    it("reads return each file's own bytes, writes leave the old or the new content, no temp file stays", async () => {
      const server = await sshd();
      const hop = await startForwarder(server);
      const sandbox = await connectSandbox({
        ...server.connectOptions(),
        port: hop.port,
        transport: "agent",
      });
      try {
        const dir = `${sandbox.homeDir}/agent-cuts-${randomBytes(4).toString("hex")}`;
        const readOnly = Array.from({ length: 8 }, (_, i) => ({
          path: `${dir}/r${i}`,
          bytes: randomBytes(48 * 1024 + i),
        }));
        const written = Array.from({ length: 2 }, (_, i) => ({
          path: `${dir}/w${i}`,
          versions: [randomBytes(96 * 1024)],
        }));
        for (const file of readOnly) await sandbox.writeFile(file.path, file.bytes);
        for (const file of written) await sandbox.writeFile(file.path, file.versions[0] as Buffer);
        let failed = 0;
        for (let round = 0; round < 30; round++) {
          const reads = readOnly.map((file) => sandbox.readFileBuffer(file.path));
          const writes = written.map((file) => {
            const next = randomBytes(96 * 1024);
            file.versions.push(next);
            return sandbox.writeFile(file.path, next);
          });
          setTimeout(() => hop.cut(), round % 10);
          const outcomes = await Promise.allSettled([...reads, ...writes]);
          outcomes.forEach((outcome, i) => {
            if (outcome.status === "rejected") {
              failed++;
              expect((outcome.reason as { code?: string }).code, String(outcome.reason)).toBe(
                "connection_failed",
              );
            } else if (i < readOnly.length) {
              expect(
                Buffer.from(outcome.value as Uint8Array).equals((readOnly[i] as { bytes: Buffer }).bytes),
              ).toBe(true);
            }
          });
          for (const file of written) {
            const now = Buffer.from(await sandbox.readFileBuffer(file.path));
            const [before, after] = file.versions.slice(-2) as [Buffer, Buffer];
            expect(now.equals(after) || now.equals(before), `round ${round}: ${file.path} is whole`).toBe(
              true,
            );
            file.versions = [now];
          }
        }
        // The agent of a cut connection removes its unfinished temp files when its input ends.
        await expect
          .poll(
            async () => (await sandbox.readdir(dir)).filter((entry) => entry.name.endsWith(".tmp")).length,
            {
              timeout: 10_000,
            },
          )
          .toBe(0);
        expect(failed).toBeGreaterThan(0); // the cuts did land mid-call
        await sandbox.rm(dir, { recursive: true });
      } finally {
        await sandbox.close();
        await hop.kill();
      }
    });
  });

  describe.runIf(isRoot())(`logged in as ${UNPRIVILEGED_TEST_USER}`, () => {
    const sshd = useSshd({ username: UNPRIVILEGED_TEST_USER });

    it("reaches only what the login user can: the agent has no rights of its own", async () => {
      const sandbox = await connectSandbox({ ...(await sshd()).connectOptions(), transport: "agent" });
      try {
        expect((await sandbox.exec("id -un")).stdout).toBe(`${UNPRIVILEGED_TEST_USER}\n`);
        await expectSandboxError(sandbox.readFile("/etc/shadow"), "permission_denied");
        await expectSandboxError(sandbox.writeFile("/etc/exedev-agent-test", "x"), "permission_denied");
        await expectSandboxError(sandbox.readdir("/root"), "permission_denied");
        await expectSandboxError(sandbox.rm("/etc/hostname"), "permission_denied");
        expect(await sandbox.exists("/etc/exedev-agent-test")).toBe(false);
      } finally {
        await sandbox.close();
      }
    });
  });

  describe("on a machine without perl", () => {
    // A PATH that finds nothing: `exec perl` fails as on a VM without it.
    const sshd = useSshd({ cleanShell: false, extraConfig: ["SetEnv SHLVL=1 PATH=/nonexistent"] });

    it("auto falls back to the channels; agent fails with unsupported", async () => {
      const options = (await sshd()).connectOptions();
      const sandbox = await connectSandbox(options);
      try {
        expect(sandbox.transport).toBe("channels");
        expect((await sandbox.exec('echo "$((6 * 7))"')).stdout).toBe("42\n");
      } finally {
        await sandbox.close();
      }
      await expectSandboxError(connectSandbox({ ...options, transport: "agent" }), "unsupported");
    });
  });
});
