import { existsSync } from "node:fs";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { describeWithSshd } from "./gate.ts";
import { useScratchSandbox } from "./scratch-sandbox.ts";

/** Whether anything still listens on a loopback port. */
const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

describeWithSshd("useScratchSandbox", () => {
  let seen: { dir: string; port: number } | undefined;
  let early: unknown;

  describe("inside a suite", () => {
    const vm = useScratchSandbox({ prefix: "fixture" });
    try {
      void vm.dir;
    } catch (error) {
      early = error;
    }

    it("connects, and makes an empty directory of its own under the home directory", async () => {
      expect(vm.dir).toMatch(new RegExp(`^${vm.sandbox.homeDir}/fixture-[0-9a-f]{8}$`));
      expect(await vm.sandbox.readdir(vm.dir)).toEqual([]);
      expect((await vm.sandbox.exec("echo $SSH_CONNECTION")).stdout).toContain(` ${vm.server.port}`);
      // Left behind unreadable, as permission tests do: clean-up must still remove it.
      await vm.sandbox.exec(`mkdir -p '${vm.dir}/locked/inner' && chmod 000 '${vm.dir}/locked'`);
      seen = { dir: vm.dir, port: vm.server.port };
    });
  });

  it("removed the directory and stopped the server after that suite", async () => {
    expect(seen).toBeDefined();
    // The loopback sshd logs in on this machine, so its home directory is this machine's.
    expect(existsSync(seen!.dir)).toBe(false);
    expect(await listening(seen!.port)).toBe(false);
  });

  it("refuses to be read while the suite is being registered, instead of giving undefined", () => {
    expect(String(early)).toMatch(/read the handle in a hook or test/);
  });
});
