// ExecOptions.loginShell against OpenSSH and Dropbear, on both transports: what /etc/profile.d (where exe.dev
// writes a VM's env) and ~/.profile set is there, cwd and env still win, and a deadline still
// kills the command (found by its EXEDEV_RUN tag and process group after the extra exec).
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import {
  describeWithSshd,
  findDropbear,
  isRoot,
  remainingProcesses,
  startDropbear,
  startSshd,
  type TestSshServer,
} from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectSandbox, type SshSandbox } from "../index.js";

// An account of this file's own: its ~/.profile is rewritten here, which no other test may see.
const LOGIN_USER = "exedev-login-shell";
const tag = randomBytes(4).toString("hex");
const profileD = `/etc/profile.d/zz-exedev-test-${tag}.sh`;

const servers: Array<[string, () => Promise<TestSshServer>]> = [
  ["OpenSSH", () => startSshd({ username: LOGIN_USER })],
  ...(findDropbear()
    ? [["Dropbear", () => startDropbear({ username: LOGIN_USER })] as [string, () => Promise<TestSshServer>]]
    : []),
];

describeWithSshd("ExecOptions.loginShell", () => {
  if (!isRoot()) {
    it.skip("needs root to create its own account and write /etc/profile.d", () => {});
    return;
  }
  beforeAll(() => {
    writeFileSync(profileD, `export EXEDEV_PD_${tag}=from-profile-d\nexport EXEDEV_BOTH_${tag}=profile-d\n`);
  });
  afterAll(() => rmSync(profileD, { force: true }));
  describe.each(servers)("on %s", (_name, start) => defineLoginShellTests(start));
});

function defineLoginShellTests(start: () => Promise<TestSshServer>): void {
  let server: TestSshServer;
  let setup: SshSandbox;
  let profile: string;
  let oldProfile: string | undefined;
  beforeAll(async () => {
    server = await start();
    setup = await connectSandbox(server.connectOptions());
    profile = `${setup.homeDir}/.profile`;
    oldProfile = (await setup.exists(profile)) ? await setup.readFile(profile) : undefined;
    await setup.mkdir(`${setup.homeDir}/tools-${tag}/bin`, { recursive: true });
    await setup.writeFile(
      `${setup.homeDir}/tools-${tag}/bin/hello-${tag}`,
      "#!/bin/sh\necho hello from a tool\n",
      {
        mode: 0o755,
      },
    );
    // What nvm or pyenv do when initialised in ~/.profile: variables, PATH, even a cd.
    await setup.writeFile(
      profile,
      [
        `export EXEDEV_HOME_${tag}=from-profile`,
        `export EXEDEV_BOTH_${tag}=profile`,
        `export PATH="$HOME/tools-${tag}/bin:$PATH"`,
        "cd /tmp",
        "",
      ].join("\n"),
    );
  });
  afterAll(async () => {
    if (setup) {
      if (oldProfile === undefined) await setup.rm(profile, { force: true });
      else await setup.writeFile(profile, oldProfile);
      await setup.rm(`${setup.homeDir}/tools-${tag}`, { recursive: true, force: true });
      await setup.close();
    }
    await server?.stop();
  });

  describe.each(["channels", "agent"] as const)("over %s", (transport) => {
    let sandbox: SshSandbox;
    beforeAll(async () => {
      sandbox = await connectSandbox({ ...server.connectOptions(), transport });
      expect(sandbox.transport).toBe(transport);
    });
    afterAll(() => sandbox?.close());

    const show = `printf '%s|%s|%s|%s\\n' "$EXEDEV_PD_${tag}" "$EXEDEV_HOME_${tag}" "$EXEDEV_BOTH_${tag}" "$(pwd)"`;

    it("sees /etc/profile.d and ~/.profile, and finds a tool the profile put on PATH", async () => {
      const result = await sandbox.exec(`${show}; hello-${tag}`, { loginShell: true });
      expect(result.stderr.replace(/\x1e[^\x1e]*\x1e/g, "")).toBe("");
      expect(result.stdout).toBe(`from-profile-d|from-profile|profile|/tmp\nhello from a tool\n`);
      expect(result.exitCode).toBe(0);
    });

    it("applies cwd and env after the profile, so they win", async () => {
      const result = await sandbox.exec(show, {
        loginShell: true,
        cwd: "/var",
        env: { [`EXEDEV_BOTH_${tag}`]: "mine" },
      });
      expect(result.stdout).toBe(`from-profile-d|from-profile|mine|/var\n`);
      const missing = await sandbox.exec("pwd", { loginShell: true, cwd: `/nonexistent-${tag}` });
      expect(missing.exitCode).not.toBe(0);
      expect(missing.stdout).toBe("");
    });

    it("is off by default: a plain exec sees none of the profile", async () => {
      const result = await sandbox.exec(`${show}; command -v hello-${tag} || echo no-tool`);
      expect(result.stdout).toBe(`|||${sandbox.homeDir}\nno-tool\n`);
    });

    it("still kills on timeout: exit 124 near the deadline, nothing left running", async () => {
      const marker = `login-sleep-${tag}-${transport}`;
      const started = Date.now();
      const result = await sandbox.exec(`sh -c 'sleep 60; echo ${marker}' & sleep 60`, {
        loginShell: true,
        timeoutMs: 1_000,
      });
      const tookMs = Date.now() - started;
      expect(result).toMatchObject({ exitCode: 124, timedOut: true });
      expect(tookMs).toBeGreaterThanOrEqual(1_000);
      expect(tookMs).toBeLessThan(2_000 + 3_000);
      expect(await remainingProcesses(setup, marker)).toBe("");
    });

    it("rejects a loginShell that is not a boolean before running anything", async () => {
      await expect(sandbox.exec("true", { loginShell: "yes" as never })).rejects.toMatchObject({
        code: "invalid_argument",
      });
    });
  });
}
