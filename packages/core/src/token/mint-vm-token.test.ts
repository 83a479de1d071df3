import { describe, expect, it } from "vitest";
import { generateSshKeyPair } from "../ssh/key-pair.js";
import { inspectToken } from "./inspect-token.js";
import { mintVmToken, vmTokenNamespace } from "./mint-vm-token.js";
import { exposedText, sandboxErrorOf } from "./token-test-support.js";
import { verifyToken } from "./verify-token.js";

const pair = generateSshKeyPair("vm-token-test");

describe("mintVmToken", () => {
  it("signs for v0@<vm>.exe.xyz: verifies under that namespace, not under another VM's", () => {
    const token = mintVmToken("my-project-vm", { privateKey: pair.privateKey });
    const info = verifyToken(token, pair.publicKey, { namespace: "v0@my-project-vm.exe.xyz" });
    expect(info.namespace).toBe("v0@my-project-vm.exe.xyz");
    const other = sandboxErrorOf(() =>
      verifyToken(token, pair.publicKey, { namespace: "v0@other-project-vm.exe.xyz" }),
    );
    expect(other.code).toBe("auth_failed");
    expect(sandboxErrorOf(() => verifyToken(token, pair.publicKey)).code).toBe("auth_failed");
  });

  it("accepts the host form of the name and expires in 5 minutes by default", () => {
    const before = Math.floor(Date.now() / 1000);
    const token = mintVmToken("my-project-vm.exe.xyz", { privateKey: pair.privateKey });
    const { permissions, namespace } = inspectToken(token);
    expect(namespace).toBe("v0@my-project-vm.exe.xyz");
    expect(permissions.exp).toBeGreaterThanOrEqual(before + 300);
    expect(permissions.exp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 300);
    expect(Object.keys(permissions)).toEqual(["exp"]);
  });

  it("carries exp, nbf and ctx as given", () => {
    const now = Math.floor(Date.now() / 1000);
    const token = mintVmToken("my-project-vm", {
      privateKey: pair.privateKey,
      exp: now + 60,
      nbf: now - 5,
      ctx: { job: 7 },
    });
    expect(inspectToken(token).permissions).toEqual({ exp: now + 60, nbf: now - 5, ctx: { job: 7 } });
  });

  it("refuses bad names and options before reading the key, without showing the key", () => {
    const cases: Array<[string, unknown]> = [
      ["Bad_Name", { privateKey: pair.privateKey }],
      ["vm", { privateKey: pair.privateKey }],
      ["my-project-vm", null],
      ["my-project-vm", {}],
      ["my-project-vm", { privateKey: pair.privateKey, exp: 1.5 }],
      ["my-project-vm", { privateKey: pair.privateKey, exp: 5 }],
      ["my-project-vm", { privateKey: pair.privateKey, cmds: ["ls"] }],
      ["my-project-vm", { privateKey: "not a key" }],
    ];
    for (const [vm, options] of cases) {
      const error = sandboxErrorOf(() => mintVmToken(vm, options as never));
      expect(error.code).toBe("invalid_argument");
      expect(exposedText(error)).not.toContain(pair.privateKey.split("\n")[1]);
    }
  });

  it("names the namespace", () => {
    expect(vmTokenNamespace("my-project-vm")).toBe("v0@my-project-vm.exe.xyz");
  });
});
