import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  connectSandbox,
  createExeDevApi,
  createExeDevSandbox,
  generateSshKeyPair,
  mintToken,
} from "@exedev-sandbox/core";
import { defineSandboxContract, expectSandboxError } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";

const SFTP_IDLE_CLOSE_MS = 2000;
// Never execFileSync here: the emulator runs in this process, so a blocked event loop could not answer.
const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), "exedev-emulator-test-"));
const client = generateSshKeyPair("test-client");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function post(emulator: Emulator, body: string, token?: string, method = "POST") {
  const response = await fetch(`${emulator.apiUrl}/exec`, {
    method,
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    body: method === "POST" ? body : undefined,
  });
  const text = await response.text();
  return {
    status: response.status,
    lines: text.trim()
      ? text
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line))
      : [],
    headers: response.headers,
  };
}

describe("emulator", () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator({ faults: { sftpIdleCloseMs: SFTP_IDLE_CLOSE_MS } });
    emulator.registerKey(client.publicKey, "test-client");
  });
  afterAll(async () => {
    await emulator?.stop();
  });
  const api = () => createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() });
  const sshTo = (name: string) => ({
    host: emulator.sshHost,
    port: emulator.sshPort,
    username: `vm+${name}`,
    privateKey: client.privateKey,
    knownHostsPath: join(scratch, `known_hosts-${randomBytes(3).toString("hex")}`),
  });

  defineSandboxContract("emulator SSH gateway", {
    create: async () => connectSandbox(sshTo((await api().newVm()).name)),
    faults: { dropConnections: () => emulator.faults.dropConnections(), sftpIdleCloseMs: SFTP_IDLE_CLOSE_MS },
  });

  it("creates, uses, clones and disposes VMs through createExeDevSandbox, leaving nothing behind", async () => {
    const client1 = api();
    const before = (await client1.listVms()).length;
    const sandbox = await createExeDevSandbox({
      create: { tags: ["demo"] },
      api: client1,
      privateKey: client.privateKey,
      knownHostsPath: join(scratch, "kh-life"),
    });
    expect(sandbox.vm.sshUser).toBe(`vm+${sandbox.vm.name}`);
    await sandbox.writeFile(`${sandbox.homeDir}/state.txt`, "carried over");
    const clone = await createExeDevSandbox({
      cloneFrom: sandbox.vm.name,
      api: client1,
      privateKey: client.privateKey,
      knownHostsPath: join(scratch, "kh-life"),
    });
    expect(await clone.readFile(`${clone.homeDir}/state.txt`)).toBe("carried over");
    expect(clone.homeDir).not.toBe(sandbox.homeDir);
    await clone.dispose();
    await sandbox.dispose();
    expect((await client1.listVms()).length).toBe(before);
    expect(existsSync(sandbox.homeDir)).toBe(false);
  });

  it("works with OpenSSH's own ssh and sftp clients", async () => {
    const vm = await api().newVm();
    const key = join(scratch, "id_test");
    writeFileSync(key, client.privateKey, { mode: 0o600 });
    const common = [
      "-i",
      key,
      "-P",
      String(emulator.sshPort),
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      `UserKnownHostsFile=${join(scratch, "kh-openssh")}`,
      "-o",
      "BatchMode=yes",
    ];
    const sshArgs = common.map((arg) => (arg === "-P" ? "-p" : arg));
    const { stdout: out } = await run("ssh", [
      ...sshArgs,
      `vm+${vm.name}@${emulator.sshHost}`,
      "echo hi from $HOME; exit 0",
    ]);
    expect(out).toBe(`hi from ${join(emulator.dataDir, "vms", vm.name)}\n`);
    const local = join(scratch, "upload.bin");
    const bytes = randomBytes(300_000);
    writeFileSync(local, bytes);
    const batch = join(scratch, "batch");
    writeFileSync(batch, `put ${local} up.bin\nget up.bin ${local}.back\n`);
    await run("sftp", [...common, "-b", batch, `vm+${vm.name}@${emulator.sshHost}`]);
    expect(readFileSync(`${local}.back`).equals(bytes)).toBe(true);
    const failed = await run("ssh", [...sshArgs, `vm+${vm.name}@${emulator.sshHost}`, "exit 7"]).catch(
      (error: { code: number }) => error,
    );
    expect((failed as { code: number }).code).toBe(7);
  });

  it("refuses SSH logins with unregistered keys or for unknown VMs, and keeps serving", async () => {
    const vm = await api().newVm();
    const stranger = generateSshKeyPair().privateKey;
    await expectSandboxError(connectSandbox({ ...sshTo(vm.name), privateKey: stranger }), "auth_failed");
    await expectSandboxError(connectSandbox(sshTo("no-such-vm-here")), "auth_failed");
    const ok = await connectSandbox(sshTo(vm.name));
    expect((await ok.exec("echo still")).stdout).toBe("still\n");
    await ok.close();
  });

  it("answers with exe.dev's status codes and JSON shapes", async () => {
    const token = emulator.createToken();
    expect((await post(emulator, "whoami", undefined)).status).toBe(401);
    const unauthorized = await post(emulator, "whoami", "exe0.garbage.token");
    expect(unauthorized).toMatchObject({ status: 401, lines: [{ error: "invalid token" }] });
    expect(unauthorized.headers.get("www-authenticate")).toBe("Bearer");
    const stranger = generateSshKeyPair().privateKey;
    expect((await post(emulator, "whoami", mintToken({ privateKey: stranger }))).status).toBe(401);
    const expired = mintToken({
      privateKey: readFileSync(join(emulator.dataDir, "emulator_ed25519"), "utf8"),
      permissions: { exp: 1_000_000_000 },
    });
    expect((await post(emulator, "whoami", expired)).status).toBe(401);
    expect((await post(emulator, "", token)).status).toBe(400);
    expect((await post(emulator, "ls 'unbalanced", token)).status).toBe(400);
    expect((await post(emulator, "ls\0", token)).status).toBe(400);
    expect((await post(emulator, "x".repeat(70_000), token)).status).toBe(413);
    expect((await post(emulator, "frobnicate", token)).status).toBe(404);
    expect((await post(emulator, "ls", token, "GET")).status).toBe(405);
    expect((await post(emulator, "rm some-vm", emulator.createToken({ cmds: ["ls"] }))).status).toBe(403);
    expect((await post(emulator, "rm x", emulator.createToken({ cmds: undefined }))).status).toBe(403); // default cmds lack rm
    expect((await post(emulator, "new --name=Bad_Name", token)).status).toBe(422);
    const created = await post(emulator, "new --name=shape-check-vm --tag=b,a --comment='hi there'", token);
    expect(created.lines[0]).toMatchObject({
      vm_name: "shape-check-vm",
      tags: ["a", "b"],
      ssh_user: "vm+shape-check-vm",
      ssh_port: emulator.sshPort,
    });
    expect((await post(emulator, "new --name=shape-check-vm", token)).lines[0].error).toContain(
      "not available",
    );
    const listed = await post(emulator, "ls shape-*", token);
    expect(listed.lines[0].vms.map((vm: { vm_name: string }) => vm.vm_name)).toEqual(["shape-check-vm"]);
    const removed = await post(emulator, "rm shape-check-vm missing-vm-one", token);
    expect(removed.lines).toEqual([
      { error: 'VM "missing-vm-one" not found' },
      { deleted: ["shape-check-vm"], failed: ["missing-vm-one"] },
    ]);
    expect((await post(emulator, "ssh-key list", token)).lines[0].ssh_keys.length).toBeGreaterThanOrEqual(2);
    emulator.faults.failNextApiCalls(1, 503);
    expect((await post(emulator, "ls", token)).status).toBe(503);
    expect((await post(emulator, "ls", token)).status).toBe(200);
  });

  it("rate-limits each key at 60 requests before refilling", async () => {
    const other = generateSshKeyPair();
    emulator.registerKey(other.publicKey, "burst");
    const token = mintToken({ privateKey: other.privateKey, permissions: { cmds: ["help"] } });
    const statuses = await Promise.all(
      Array.from({ length: 65 }, () => post(emulator, "help", token).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(4);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(61);
  });

  it("restart kills a VM's processes; rm deletes its workspace", async () => {
    const vm = await api().newVm();
    const sandbox = await connectSandbox(sshTo(vm.name));
    const running = sandbox.exec("sleep 60; echo survived");
    await new Promise((resolve) => setTimeout(resolve, 300));
    await api().restartVm(vm.name);
    const result = await running.catch((e: unknown) => e);
    expect((result as { stdout?: string }).stdout ?? "").not.toContain("survived");
    await sandbox.close();
    await api().removeVm(vm.name);
    expect(existsSync(join(emulator.dataDir, "vms", vm.name))).toBe(false);
  });
});

describe("emulator state", () => {
  it("survives a restart when dataDir is given", async () => {
    const dataDir = join(scratch, "persist");
    const first = await startEmulator({ dataDir });
    first.registerKey(client.publicKey);
    const vm = await createExeDevApi({ baseUrl: first.apiUrl, token: first.createToken() }).newVm({
      name: "persisted-vm",
    });
    const sandbox = await connectSandbox({
      host: first.sshHost,
      port: first.sshPort,
      username: `vm+${vm.name}`,
      privateKey: client.privateKey,
      knownHostsPath: join(scratch, "kh-persist"),
    });
    await sandbox.writeFile(`${sandbox.homeDir}/kept.txt`, "still here");
    await sandbox.close();
    await first.stop();
    // Same port as before, so the known_hosts entry names the same [host]:port.
    const second = await startEmulator({ dataDir, sshPort: first.sshPort });
    try {
      const api = createExeDevApi({ baseUrl: second.apiUrl, token: second.createToken() });
      expect((await api.getVm("persisted-vm"))?.name).toBe("persisted-vm");
      // Same host key across restarts, so strict checking against the first run's entry passes.
      const again = await connectSandbox({
        host: second.sshHost,
        port: second.sshPort,
        username: "vm+persisted-vm",
        privateKey: client.privateKey,
        knownHostsPath: join(scratch, "kh-persist"),
        hostKey: "strict",
      });
      expect(await again.readFile(`${again.homeDir}/kept.txt`)).toBe("still here");
      await again.close();
    } finally {
      await second.stop();
    }
  });
});
