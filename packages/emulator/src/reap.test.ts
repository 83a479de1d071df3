// Lifetimes against the emulator: the marks createExeDevSandbox puts on its VMs, extendTtl, the
// tag and comment API, and reapVms (and its CLI) cleaning up after a process killed with SIGKILL.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  CREATED_VM_TAG,
  createExeDevApi,
  createExeDevSandbox,
  type ExeDevApi,
  type ExeDevSandbox,
  expiryOf,
  reapVms,
} from "@exedev-sandbox/core";
import { expectSandboxError } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-reap-emu-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const coreEntry = import.meta.resolve("@exedev-sandbox/core");
const cliPath = join(fileURLToPath(coreEntry), "..", "cli.js");

// Creates three marked VMs with a 1 s lifetime, prints their names, then hangs until killed.
const CHILD_SCRIPT = `
const { createExeDevApi, createExeDevSandbox } = await import(process.env.CORE_ENTRY);
const api = createExeDevApi({ baseUrl: process.env.EMU_API_URL, token: process.env.EMU_TOKEN });
const sandboxes = await Promise.all([1, 2, 3].map(() => createExeDevSandbox({
  create: { tags: ["reap-child"] }, ttlMs: 1000, api,
  privateKey: process.env.EMU_KEY, hostKey: { sha256: process.env.EMU_HOST_KEY },
  knownHostsPath: process.env.EMU_KNOWN_HOSTS,
})));
console.log(JSON.stringify(sandboxes.map((sandbox) => sandbox.vm.name)));
setInterval(() => {}, 1 << 30);
`;

describe("lifetimes and the reaper (emulator)", () => {
  let emulator: Emulator;
  let api: ExeDevApi;
  let token: string;
  let privateKey: string;
  const sandboxOptions = () => ({
    api,
    privateKey,
    hostKey: { sha256: emulator.hostKeyFingerprint },
    knownHostsPath: join(scratch, `kh-${randomBytes(4).toString("hex")}`),
  });
  const tagsOf = async (name: string) => (await api.getVm(name))?.tags ?? [];

  beforeAll(async () => {
    emulator = await startEmulator();
    token = emulator.createToken();
    api = createExeDevApi({ baseUrl: emulator.apiUrl, token });
    privateKey = readFileSync(join(emulator.dataDir, "emulator_ed25519"), "utf8");
  });
  afterAll(() => emulator?.stop());

  it("tagVm, untagVm and setComment send the lobby commands and read their answers", async () => {
    const vm = await api.newVm({ tags: ["b"] });
    expect(await api.tagVm(vm.name, ["z", "a", "a"])).toEqual({ vm: vm.name, tags: ["a", "b", "z"] });
    expect(await api.untagVm(vm.name, ["b", "absent"])).toEqual({ vm: vm.name, tags: ["a", "z"] });
    await api.setComment(vm.name, "kept by hand");
    expect(await api.getVm(vm.name)).toMatchObject({ tags: ["a", "z"], comment: "kept by hand" });
    expect((await api.getVm(vm.name))?.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    await expectSandboxError(api.tagVm(vm.name, ["Bad"]), "invalid_argument");
    await expectSandboxError(api.tagVm(vm.name, []), "invalid_argument");
    await expectSandboxError(api.setComment(vm.name, "two\nlines"), "invalid_argument");
    await expectSandboxError(api.setComment(vm.name, "x".repeat(201)), "invalid_argument");
    await api.removeVm(vm.name);
  });

  it("a created VM carries the mark and an expiry ttlMs ahead; extendTtl moves it", async () => {
    const before = Date.now();
    await using sandbox: ExeDevSandbox = await createExeDevSandbox({
      create: { tags: ["mine"] },
      ttlMs: 3_600_000,
      ...sandboxOptions(),
    });
    const tags = await tagsOf(sandbox.vm.name);
    expect(tags).toContain(CREATED_VM_TAG);
    expect(tags).toContain("mine");
    const expiry = expiryOf(tags)!;
    expect(expiry).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1000);

    const moved = await sandbox.extendTtl(7_200_000);
    const after = await tagsOf(sandbox.vm.name);
    expect(after.filter((tag) => tag.startsWith("exedev-expires-"))).toHaveLength(1);
    expect(expiryOf(after)).toBe(moved.getTime());
    expect(moved.getTime()).toBeGreaterThanOrEqual(expiry + 7_200_000 - 1000);
    await expectSandboxError(sandbox.extendTtl(-1), "invalid_argument");
    await expectSandboxError(createExeDevSandbox({ create: true, ttlMs: 0, api }), "invalid_argument");
    expect(await api.listVms()).toHaveLength(1); // the bad ttlMs created nothing
  });

  it("a clone gets its own expiry instead of the source's", async () => {
    const source = await api.newVm({ tags: [CREATED_VM_TAG, "exedev-expires-1000"] });
    await using clone = await createExeDevSandbox({
      cloneFrom: source.name,
      ttlMs: null,
      ...sandboxOptions(),
    });
    const tags = await tagsOf(clone.vm.name);
    expect(tags).toContain(CREATED_VM_TAG);
    expect(expiryOf(tags)).toBeUndefined();
    await api.removeVm(source.name);
  });

  it("reapVms deletes exactly the VMs of a process killed with SIGKILL once they expired", async () => {
    const plain = await api.newVm({ tags: ["reap-child"] }); // not the library's: never reaped
    const alive = await createExeDevSandbox({ create: { tags: ["reap-child"] }, ...sandboxOptions() });
    const scriptPath = join(scratch, "child.mjs");
    writeFileSync(scriptPath, CHILD_SCRIPT);
    const child = spawn(process.execPath, [scriptPath], {
      env: {
        ...process.env,
        CORE_ENTRY: coreEntry,
        EMU_API_URL: emulator.apiUrl,
        EMU_TOKEN: token,
        EMU_KEY: privateKey,
        EMU_HOST_KEY: emulator.hostKeyFingerprint,
        EMU_KNOWN_HOSTS: join(scratch, "kh-child"),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const names = await new Promise<string[]>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (chunk) => {
        out += chunk;
        if (out.includes("\n")) resolve(JSON.parse(out));
      });
      child.on("exit", (code) => reject(new Error(`child exited early (${code})`)));
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    expect(names).toHaveLength(3);

    // Wait until the children's expiries (1 s ahead, rounded up to a second) have passed.
    const expiries = await Promise.all(names.map(async (name) => expiryOf(await tagsOf(name))!));
    const waitMs = Math.max(...expiries) - Date.now() + 50;
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));

    const dry = await reapVms({ api, dryRun: true });
    expect(dry.vms.map((vm) => vm.name).sort()).toEqual([...names].sort());
    expect(dry.vms.every((vm) => vm.reason === "expired" && !vm.deleted)).toBe(true);
    expect(dry.dryRun).toBe(true);

    const cli = await promisify(execFile)(
      process.execPath,
      [cliPath, "reap", "--dry-run", "--tag", "reap-child"],
      {
        env: { ...process.env, EXE_API_URL: emulator.apiUrl, EXE_API_TOKEN: token },
      },
    );
    for (const name of names) expect(cli.stdout).toContain(`would delete ${name} (expired `);
    expect(cli.stdout).not.toContain(plain.name);
    expect(cli.stdout).not.toContain(alive.vm.name);
    expect(cli.stdout).toContain("would delete 3 of 4 marked VMs.");
    expect(cli.stdout + cli.stderr).not.toContain(token);
    expect((await api.listVms("reap-child")).length).toBe(5); // the dry runs deleted nothing

    const reaped = await reapVms({ api, tag: "reap-child" });
    expect(reaped.vms.map((vm) => [vm.name, vm.deleted])).toEqual(
      expect.arrayContaining(names.map((name) => [name, true])),
    );
    expect(reaped.vms).toHaveLength(3);
    const left = (await api.listVms("reap-child")).map((vm) => vm.name).sort();
    expect(left).toEqual([plain.name, alive.vm.name].sort());

    // olderThan also takes unexpired marked VMs, still never the unmarked one.
    const old = await reapVms({ api, olderThan: 0, tag: "reap-child", dryRun: true });
    expect(old.vms.map((vm) => [vm.name, vm.reason])).toEqual([[alive.vm.name, "older_than"]]);
    await alive.dispose();
    await api.removeVm(plain.name);
  });

  it("the CLI rejects bad usage with status 2 and prints help", async () => {
    const run = promisify(execFile);
    const env = { ...process.env, EXE_API_URL: emulator.apiUrl, EXE_API_TOKEN: token };
    await expect(
      run(process.execPath, [cliPath, "reap", "--older-than", "soon"], { env }),
    ).rejects.toMatchObject({
      code: 2,
    });
    await expect(run(process.execPath, [cliPath, "frobnicate"], { env })).rejects.toMatchObject({ code: 2 });
    expect((await run(process.execPath, [cliPath, "--help"], { env })).stdout).toContain(
      "Usage: exedev-sandbox reap",
    );
    const json = await run(process.execPath, [cliPath, "reap", "--json"], { env });
    expect(JSON.parse(json.stdout)).toMatchObject({ vms: [], dryRun: false });
  });
});
