import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildRemoteCommand } from "./remote-command.js";

// The wrapper must mean the same thing to every POSIX login shell; run it through the real ones.
const shells = ["/bin/bash", "/bin/dash", "/bin/sh"].filter((shell) => existsSync(shell));

describe.each(shells)("buildRemoteCommand under %s", (shell) => {
  const run = (command: string, cwd?: string, env?: Record<string, string>) => {
    try {
      const stdout = execFileSync(shell, ["-c", buildRemoteCommand(command, cwd, env)], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      return { code: 0, stdout };
    } catch (error) {
      const failed = error as { status: number; stdout: string; stderr: string };
      return { code: failed.status, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it("runs the command unchanged, with quotes, $ and backticks intact", () => {
    expect(run(`printf '%s|' "it's" '$HOME' "\`echo tick\`"`).stdout).toBe("it's|$HOME|tick|");
  });

  it("passes the exit status through", () => {
    expect(run("exit 42").code).toBe(42);
  });

  it("changes directory and stops when it does not exist", () => {
    expect(run("pwd", "/tmp").stdout).toBe("/tmp\n");
    const missing = run("echo ran", "/no/such dir");
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toBe("");
  });

  it("exports environment values without interpreting them", () => {
    const value = "a 'b' $c `d` \\e\nf";
    expect(run('printf %s "$V"', undefined, { V: value }).stdout).toBe(value);
  });

  it("prints the shell's pid and start time on stderr before the command runs", () => {
    const output = execFileSync(shell, ["-c", `exec 2>&1; ${buildRemoteCommand("echo out >&2")}`], {
      encoding: "utf8",
    });
    expect(output).toMatch(/^\x1eEXEDEV_PID=\d+:\d+\x1eout\n$/);
  });

  it("gives the command a session of its own when the shell does not lead one (Dropbear)", () => {
    // A child shell of another shell does not lead its session, as under Dropbear and tinysshd.
    const line = buildRemoteCommand("ps -o pid=,sid= -p $$");
    const output = execFileSync("/bin/sh", ["-c", `${shell} -c "$0"; :`, `exec 2>&1; ${line}`], {
      encoding: "utf8",
      env: { ...process.env, SHELL: shell },
    });
    const match = /EXEDEV_PID=(\d+):\d+\x1e\s*(\d+)\s+(\d+)/.exec(output);
    expect(match?.[1]).toBe(match?.[2]); // same pid before and after setsid
    expect(match?.[2]).toBe(match?.[3]); // and it leads its session now
  });

  it("leaves positional parameters and its own variables out of the command's way", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
    expect(run('printf "%s|" "$#" "${__exedev_c-unset}" "${__exedev_s-unset}"').stdout).toBe(
      "0|unset|unset|",
    );
  });
});
