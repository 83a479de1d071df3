import { describe, expect, it } from "vitest";
import { isSandboxError } from "../errors.js";
import { vmUrl } from "./vm-url.js";

function refused(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    if (isSandboxError(error, "invalid_argument")) return error.message;
    throw error;
  }
  throw new Error("expected invalid_argument");
}

describe("vmUrl on exe.dev", () => {
  const vm = { name: "my-project-vm", httpsUrl: "https://my-project-vm.exe.xyz", proxyPort: 8000 };

  it("serves the main URL without a port and for the proxy port", () => {
    expect(vmUrl(vm)).toBe("https://my-project-vm.exe.xyz/");
    expect(vmUrl(vm, 8000)).toBe("https://my-project-vm.exe.xyz/");
  });

  it("serves 3000–9999 on their own port", () => {
    expect(vmUrl(vm, 3000)).toBe("https://my-project-vm.exe.xyz:3000/");
    expect(vmUrl(vm, 3456)).toBe("https://my-project-vm.exe.xyz:3456/");
    expect(vmUrl(vm, 9999)).toBe("https://my-project-vm.exe.xyz:9999/");
  });

  it("refuses other ports with the rule, and non-ports", () => {
    for (const port of [80, 2999, 10000, 65535]) {
      expect(refused(() => vmUrl(vm, port))).toMatch(/proxy port \(8000\).*3000–9999/);
    }
    for (const port of [0, -1, 1.5, 65536, Number.NaN, "3000"]) {
      expect(refused(() => vmUrl(vm, port as number))).toMatch(/whole number/);
    }
  });

  it("puts a proxy port outside 3000–9999 at the bare host, and its old port then has no URL", () => {
    const onEighty = { ...vm, proxyPort: 80 };
    expect(vmUrl(onEighty, 80)).toBe("https://my-project-vm.exe.xyz/");
    expect(vmUrl(onEighty, 8000)).toBe("https://my-project-vm.exe.xyz:8000/");
  });

  it("defaults to exeuntu's 8000 and to <name>.exe.xyz when the record says nothing", () => {
    expect(vmUrl({ name: "my-project-vm" }, 8000)).toBe("https://my-project-vm.exe.xyz/");
    expect(vmUrl({ name: "my-project-vm", httpsUrl: "not a url" })).toBe("https://my-project-vm.exe.xyz/");
    expect(vmUrl({ name: "my-project-vm", httpsUrl: "http://my-project-vm.exe.xyz" }, 4000)).toBe(
      "https://my-project-vm.exe.xyz:4000/",
    );
  });
});

describe("vmUrl on the emulator", () => {
  const vm = { name: "my-project-vm", httpsUrl: "http://my-project-vm.localhost:41234/", proxyPort: 8000 };

  it("uses the emulator proxy's host and port, with other ports as a subdomain", () => {
    expect(vmUrl(vm)).toBe("http://my-project-vm.localhost:41234/");
    expect(vmUrl(vm, 8000)).toBe("http://my-project-vm.localhost:41234/");
    expect(vmUrl(vm, 3456)).toBe("http://3456.my-project-vm.localhost:41234/");
  });

  it("keeps exe.dev's port rule", () => {
    expect(refused(() => vmUrl(vm, 22))).toMatch(/3000–9999/);
  });
});
