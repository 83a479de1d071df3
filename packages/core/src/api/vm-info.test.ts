import { describe, expect, it } from "vitest";
import { toVmInfo, toVmList } from "./vm-info.js";
import { toWhoAmI } from "./whoami.js";

describe("toVmInfo", () => {
  it("reads the `new` shape with a plain ssh_dest", () => {
    const record = {
      vm_name: "my-box",
      tags: ["ci"],
      ssh_command: "ssh my-box.exe.xyz",
      ssh_dest: "my-box.exe.xyz",
      ssh_port: 22,
      https_url: "https://my-box.exe.xyz",
      proxy_port: 8000,
    };
    expect(toVmInfo(record)).toEqual({
      name: "my-box",
      sshHost: "my-box.exe.xyz",
      sshPort: 22,
      httpsUrl: "https://my-box.exe.xyz",
      proxyPort: 8000,
      tags: ["ci"],
      raw: record,
    });
  });

  it("reads proxy_port as a number or numeric string, and leaves out one that is not a port", () => {
    expect(toVmInfo({ vm_name: "b", proxy_port: "9000" })?.proxyPort).toBe(9000);
    for (const proxy_port of [0, 70_000, "80a", 8.5, null]) {
      expect(toVmInfo({ vm_name: "b", proxy_port })).not.toHaveProperty("proxyPort");
    }
    expect(toVmInfo({ vm_name: "b" })).not.toHaveProperty("proxyPort");
  });

  it("splits a `vm+name@host` ssh_dest on the last @ and keeps the user part", () => {
    const info = toVmInfo({ vm_name: "my-box", ssh_dest: "vm+my-box@vm.exe.xyz" });
    expect(info).toMatchObject({ name: "my-box", sshHost: "vm.exe.xyz", sshUser: "vm+my-box", sshPort: 22 });
    expect(toVmInfo({ vm_name: "my-box", ssh_dest: "odd@user@exe.dev" })).toMatchObject({
      sshHost: "exe.dev",
      sshUser: "odd@user",
    });
  });

  it("prefers ssh_host and ssh_user, and never invents a host when the server sent one", () => {
    const info = toVmInfo({
      vm_name: "my-box",
      ssh_host: "gw.example.test",
      ssh_user: "vm+my-box",
      ssh_dest: "vm+my-box@other.example.test",
      ssh_port: "2222",
    });
    expect(info).toMatchObject({ sshHost: "gw.example.test", sshUser: "vm+my-box", sshPort: 2222 });
    // ssh_host without ssh_user: the routing user still comes from ssh_dest.
    expect(toVmInfo({ vm_name: "my-box", ssh_host: "gw.test", ssh_dest: "vm+my-box@gw.test" })).toMatchObject(
      {
        sshHost: "gw.test",
        sshUser: "vm+my-box",
      },
    );
    expect(toVmInfo({ vm_name: "my-box", ssh_command: "ssh -p 2200 vm+my-box@gw.test" })).toMatchObject({
      sshHost: "gw.test",
      sshUser: "vm+my-box",
      sshPort: 2200,
    });
  });

  it("falls back to <name>.exe.xyz only when the server sent no SSH fields", () => {
    const info = toVmInfo({ vm_name: "my-box", status: "running" });
    expect(info).toMatchObject({ sshHost: "my-box.exe.xyz", sshPort: 22, status: "running", tags: [] });
    expect(info?.sshUser).toBeUndefined();
  });

  it("reads cp's May-2026 shape {name, state, source, ssh, elapsed}", () => {
    const record = {
      name: "copy-box",
      state: "starting",
      source: "my-box",
      ssh: "vm+copy-box@gw.test",
      elapsed: 1.2,
    };
    expect(toVmInfo(record)).toEqual({
      name: "copy-box",
      sshHost: "gw.test",
      sshUser: "vm+copy-box",
      sshPort: 22,
      status: "starting",
      tags: [],
      raw: record,
    });
  });

  it("looks inside wrappers such as {vm:{…}} and keeps the outer record as raw", () => {
    const record = { vm: { vm_name: "my-box", ssh_dest: "my-box.exe.xyz", region: "lax" }, elapsed: 2 };
    expect(toVmInfo(record)).toMatchObject({
      name: "my-box",
      sshHost: "my-box.exe.xyz",
      region: "lax",
      raw: record,
    });
  });

  it("uses a fallback name and tolerates junk", () => {
    expect(toVmInfo({ ssh_dest: "x.exe.xyz" }, "sent-name")).toMatchObject({
      name: "sent-name",
      sshHost: "x.exe.xyz",
    });
    expect(toVmInfo({ ssh_dest: "x.exe.xyz" })).toBeUndefined();
    expect(toVmInfo("text")).toBeUndefined();
    expect(toVmInfo(null)).toBeUndefined();
    expect(toVmInfo({ vm_name: "my-box", tags: ["a", 3, null], ssh_port: "nope" })).toMatchObject({
      tags: ["a"],
      sshPort: 22,
    });
  });
});

describe("toVmList", () => {
  it("reads ls --json ({vms:[…]}) and skips entries without a name", () => {
    const list = toVmList({
      vms: [
        { vm_name: "one-box", ssh_dest: "one-box.exe.xyz", status: "running", region: "lax" },
        { vm_name: "two-box", ssh_host: "gw.test", ssh_user: "vm+two-box", status: "stopped", tags: ["x"] },
        { status: "running" },
      ],
    });
    expect(list.map((vm) => [vm.name, vm.sshHost, vm.sshUser, vm.status, vm.tags])).toEqual([
      ["one-box", "one-box.exe.xyz", undefined, "running", []],
      ["two-box", "gw.test", "vm+two-box", "stopped", ["x"]],
    ]);
    expect(toVmList({})).toEqual([]);
    expect(toVmList("nope")).toEqual([]);
  });
});

describe("toWhoAmI", () => {
  it("reads the documented fields and keeps the record", () => {
    const record = {
      email: "a@b.test",
      region: "lax",
      region_display: "Los Angeles",
      ssh_keys: [{ public_key: "ssh-ed25519 AAAA", fingerprint: "SHA256:x", current: true }, "junk"],
    };
    expect(toWhoAmI(record)).toEqual({
      email: "a@b.test",
      region: "lax",
      regionDisplay: "Los Angeles",
      sshKeys: [{ publicKey: "ssh-ed25519 AAAA", fingerprint: "SHA256:x", current: true }],
      raw: record,
    });
  });
});
