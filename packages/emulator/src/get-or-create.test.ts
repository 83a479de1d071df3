// createExeDevSandbox({ getOrCreate }) against the emulator: racing callers end with one VM.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createExeDevApi, createExeDevSandbox, type ExeDevSandboxOptions } from "@exedev-sandbox/core";
import { expectSandboxError } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-goc-emu-"));
let emulator: Emulator;
let privateKey: string;
let token: string;

beforeAll(async () => {
  emulator = await startEmulator();
  privateKey = readFileSync(join(emulator.dataDir, "emulator_ed25519"), "utf8");
  token = emulator.createToken();
});
afterAll(async () => {
  await emulator?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const options = (extra: Partial<ExeDevSandboxOptions>): ExeDevSandboxOptions => ({
  // One client per caller, as separate processes would have.
  api: createExeDevApi({ baseUrl: emulator.apiUrl, token }),
  privateKey,
  hostKey: { sha256: emulator.hostKeyFingerprint },
  knownHostsPath: join(scratch, `kh-${randomBytes(4).toString("hex")}`),
  ...extra,
});
const api = () => createExeDevApi({ baseUrl: emulator.apiUrl, token });

describe("createExeDevSandbox({ getOrCreate }) (emulator)", () => {
  it("10 racing callers by name: exactly one creates the VM, the others attach to it", async () => {
    const name = `goc-${randomBytes(3).toString("hex")}`;
    const sandboxes = await Promise.all(
      Array.from({ length: 10 }, () => createExeDevSandbox(options({ name, getOrCreate: true }))),
    );
    try {
      expect(sandboxes.filter((sandbox) => sandbox.created)).toHaveLength(1);
      expect(new Set(sandboxes.map((sandbox) => sandbox.vm.name))).toEqual(new Set([name]));
      await sandboxes[0]?.writeFile(`${sandboxes[0].homeDir}/mark`, "one VM");
      for (const sandbox of sandboxes)
        expect(await sandbox.readFile(`${sandbox.homeDir}/mark`)).toBe("one VM");
      expect((await api().listVms()).filter((vm) => vm.name === name)).toHaveLength(1);
    } finally {
      await Promise.all(sandboxes.map((sandbox) => sandbox.dispose()));
    }
    // Kept by default (others may use it); the next caller attaches.
    const again = await createExeDevSandbox(options({ name, getOrCreate: true, cleanup: true }));
    expect(again.created).toBe(false);
    await again.dispose();
    expect(await api().getVm(name)).toBeDefined();
    await api().removeVm(name);
  }, 60_000);

  it("10 racing callers by tag: one VM carries the tag; a later call finds it", async () => {
    const tag = `pool_${randomBytes(3).toString("hex")}`;
    const sandboxes = await Promise.all(
      Array.from({ length: 10 }, () =>
        createExeDevSandbox(options({ getOrCreate: { tag }, create: { tags: ["ci"] } })),
      ),
    );
    const names = new Set(sandboxes.map((sandbox) => sandbox.vm.name));
    try {
      expect(sandboxes.filter((sandbox) => sandbox.created)).toHaveLength(1);
      expect(names.size).toBe(1);
      const tagged = (await api().listVms()).filter((vm) => vm.tags.includes(tag));
      expect(tagged).toHaveLength(1);
      expect(tagged[0]?.tags).toEqual(expect.arrayContaining(["ci", tag]));
    } finally {
      await Promise.all(sandboxes.map((sandbox) => sandbox.dispose()));
    }
    const later = await createExeDevSandbox(options({ getOrCreate: { tag } }));
    expect(later.created).toBe(false);
    expect(names.has(later.vm.name)).toBe(true);
    await later.dispose();
    await api().removeVm(...names);
  }, 60_000);

  it("rejects bad getOrCreate input before any request", async () => {
    await expectSandboxError(createExeDevSandbox(options({ getOrCreate: true })), "invalid_argument");
    await expectSandboxError(
      createExeDevSandbox(options({ getOrCreate: { tag: "Bad Tag" } })),
      "invalid_argument",
    );
    await expectSandboxError(
      createExeDevSandbox(options({ getOrCreate: true, name: "x-vm-1", vm: "other-vm" })),
      "invalid_argument",
    );
    await expectSandboxError(createExeDevSandbox(options({ name: "lonely-name" })), "invalid_argument");
    await expectSandboxError(
      createExeDevSandbox(options({ getOrCreate: true, name: "aa-vm", create: { name: "bb-vm" } })),
      "invalid_argument",
    );
  });
});
