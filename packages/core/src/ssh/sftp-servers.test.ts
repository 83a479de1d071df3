import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  describeWithSshd,
  expectSandboxError,
  hasAsyncssh,
  remainingProcesses,
  startAsyncsshServer,
  startSshd,
  useScratchSandbox,
} from "@exedev-sandbox/testing";
import { afterAll, describe, expect, it } from "vitest";
import { connectSandbox } from "../index.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-sftp-servers-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const knownHosts = () => join(scratch, `known_hosts-${randomBytes(4).toString("hex")}`);

async function elapsed<T>(promise: Promise<T>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ms: Date.now() - started };
}

describeWithSshd("SFTP on servers that do not cooperate (OpenSSH variants)", () => {
  it("gives timeout within sftpTimeoutMs when the server never answers the SFTP INIT, and leaks no slot", async () => {
    const server = await startSshd({ sftpSubsystem: "/bin/sleep 1000" });
    const sandbox = await connectSandbox({
      ...server.connectOptions(),
      transport: "channels",
      sftpTimeoutMs: 1000,
      maxChannels: 3,
    });
    try {
      // maxChannels 3 leaves 2 work slots: a leaked slot per attempt would block exec by the third.
      for (let i = 0; i < 4; i++) {
        const { error, ms } = await elapsed(sandbox.readFile("/etc/hostname"));
        expect((error as { code?: string }).code, String(error)).toBe("timeout");
        expect(ms).toBeGreaterThanOrEqual(900);
        expect(ms).toBeLessThan(2000);
      }
      const { stdout } = await sandbox.exec("echo still-works", { timeoutMs: 10_000 });
      expect(stdout).toBe("still-works\n");
    } finally {
      await sandbox.close();
      await server.stop();
    }
  });

  it("fails file calls with unsupported when there is no SFTP subsystem, and leaks no session", async () => {
    const server = await startSshd({ sftpSubsystem: false });
    const sandbox = await connectSandbox({ ...server.connectOptions(), transport: "channels" });
    try {
      const home = sandbox.homeDir;
      for (let i = 0; i < 30; i++) {
        const call = [
          () => sandbox.readFile("/etc/hostname"),
          () => sandbox.writeFile(`${home}/no-sftp.txt`, "x"),
          () => sandbox.readdir(home),
        ][i % 3] as () => Promise<unknown>;
        const { error, ms } = await elapsed(call());
        expect((error as { code?: string }).code, String(error)).toBe("unsupported");
        expect((error as { retryable?: boolean }).retryable).toBe(false);
        expect(ms).toBeLessThan(3000);
      }
      // Commands still run, and a timed-out one is still killed (the kill needs a free session).
      expect((await sandbox.exec("echo alive")).stdout).toBe("alive\n");
      const tag = `no-sftp-${randomBytes(4).toString("hex")}`;
      const started = Date.now();
      const result = await sandbox.exec(`sleep 600; echo ${tag}`, { timeoutMs: 500 });
      expect(result.exitCode).toBe(124);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(await remainingProcesses(sandbox, tag)).toBe("");
      expect(server.logs()).not.toMatch(/no more sessions/);
    } finally {
      await sandbox.close();
      await server.stop();
    }
  });
});

describeWithSshd("SFTP paths and sizes against OpenSSH", () => {
  const vm = useScratchSandbox({
    prefix: "sftp-paths",
    connect: { transport: "channels" },
    connectWith: connectSandbox,
  });

  it("means by `..` what the machine means: link/.. is the link target's parent", async () => {
    // ly -> x/y, and a chain: lz -> ly2 -> x/y/z
    await vm.sandbox.exec(
      `cd '${vm.dir}' && mkdir -p x/y/z && echo base > victim && echo x > x/victim && ln -s x/y ly && ln -s x/y/z ly2 && ln -s ly2 lz`,
    );
    const shell = (await vm.sandbox.exec(`cat '${vm.dir}/ly/../victim'`)).stdout;
    expect(shell).toBe("x\n"); // what the VM's shell means
    expect(await vm.sandbox.readFile(`${vm.dir}/ly/../victim`)).toBe("x\n");
    // Through two links: lz/.. is x/y, so lz/../../victim is x/victim.
    expect(await vm.sandbox.readFile(`${vm.dir}/lz/../../victim`)).toBe("x\n");
    await vm.sandbox.writeFile(`${vm.dir}/lz/../written`, "w");
    expect((await vm.sandbox.exec(`cat '${vm.dir}/x/y/written'`)).stdout).toBe("w");
    expect(await vm.sandbox.exists(`${vm.dir}/written`)).toBe(false);
    await vm.sandbox.rm(`${vm.dir}/ly/../victim`);
    expect(
      (await vm.sandbox.exec(`cat '${vm.dir}/victim'; test -e '${vm.dir}/x/victim' || echo gone`)).stdout,
    ).toBe("base\ngone\n");
    const listed = (await vm.sandbox.readdir(`${vm.dir}/ly/..`)).map((entry) => entry.name);
    expect(listed).toEqual(["y"]);
  });

  it("keeps rm's refusals meaningful through `..` and links", async () => {
    const home = vm.sandbox.homeDir;
    const name = vm.dir.slice(home.length + 1);
    await vm.sandbox.exec(
      `cd '${vm.dir}' && mkdir -p deep/er && ln -s '${home}' homelink && ln -s / rootlink`,
    );
    await expectSandboxError(vm.sandbox.rm(`${vm.dir}/..`, { recursive: true }), "invalid_argument");
    await expectSandboxError(
      vm.sandbox.rm(`${vm.dir}/deep/er/../../..`, { recursive: true }),
      "invalid_argument",
    );
    await expectSandboxError(vm.sandbox.rm(`${vm.dir}/homelink/.`, { recursive: true }), "invalid_argument");
    await expectSandboxError(vm.sandbox.rm(`${vm.dir}/rootlink/..`, { recursive: true }), "invalid_argument");
    await expectSandboxError(vm.sandbox.rm(`${home}/${name}/../`, { recursive: true }), "invalid_argument");
    // The links themselves can go: rm acts on a link, not on what it points to.
    await vm.sandbox.rm(`${vm.dir}/homelink`);
    await vm.sandbox.rm(`${vm.dir}/rootlink`);
    expect(await vm.sandbox.exists(`${home}/${name}/deep/er`)).toBe(true);
  });

  it("rejects unpaired surrogates in paths as invalid_argument before any I/O", async () => {
    for (const bad of [`${vm.dir}/a\uD800b`, `${vm.dir}/\uDC00`, `${vm.dir}/end\uD83D`]) {
      await expectSandboxError(vm.sandbox.writeFile(bad, "x"), "invalid_argument");
      await expectSandboxError(vm.sandbox.readFile(bad), "invalid_argument");
      await expectSandboxError(vm.sandbox.rm(bad, { force: true }), "invalid_argument");
    }
    expect(await vm.sandbox.readdir(vm.dir)).toEqual(
      expect.not.arrayContaining([expect.objectContaining({ name: expect.stringContaining("\uFFFD") })]),
    );
    // A real pair is fine.
    await vm.sandbox.writeFile(`${vm.dir}/emoji-\uD83D\uDE00`, "ok");
    expect(await vm.sandbox.readFile(`${vm.dir}/emoji-😀`)).toBe("ok");
  });

  it("caps reads: /dev/zero and a 100 GiB sparse file fail too_large, fast, with the limit in details", async () => {
    const zero = await elapsed(vm.sandbox.readFileBuffer("/dev/zero", { maxBytes: 8 * 1024 * 1024 }));
    expect((zero.error as { code?: string }).code, String(zero.error)).toBe("too_large");
    expect((zero.error as { details: Record<string, unknown> }).details.maxBytes).toBe(8 * 1024 * 1024);
    const zeroDefault = await elapsed(vm.sandbox.readFile("/dev/zero"));
    expect((zeroDefault.error as { code?: string }).code).toBe("too_large");
    expect((zeroDefault.error as { details: Record<string, unknown> }).details.maxBytes).toBe(
      64 * 1024 * 1024,
    );
    expect(zeroDefault.ms).toBeLessThan(20_000);
    await vm.sandbox.exec(`truncate -s 100G '${vm.dir}/sparse'`);
    const sparse = await elapsed(vm.sandbox.readFileBuffer(`${vm.dir}/sparse`));
    expect((sparse.error as { code?: string }).code, String(sparse.error)).toBe("too_large");
    expect((sparse.error as { details: Record<string, unknown> }).details.size).toBe(100 * 1024 ** 3);
    expect(sparse.ms).toBeLessThan(2000);
    // At the limit is fine; one byte over is not.
    await vm.sandbox.writeFile(`${vm.dir}/ten`, "0123456789");
    expect(await vm.sandbox.readFile(`${vm.dir}/ten`, { maxBytes: 10 })).toBe("0123456789");
    await expectSandboxError(vm.sandbox.readFile(`${vm.dir}/ten`, { maxBytes: 9 }), "too_large");
    await expectSandboxError(vm.sandbox.readFile(`${vm.dir}/ten`, { maxBytes: -1 }), "invalid_argument");
    await expectSandboxError(vm.sandbox.readFile(`${vm.dir}/ten`, { maxBytes: 1.5 }), "invalid_argument");
  });
});

describe.runIf(hasAsyncssh())("SFTP on a server that refuses to open directories (asyncssh)", () => {
  it("reports is_a_directory for readFile of a directory", async () => {
    const server = await startAsyncsshServer();
    const sandbox = await connectSandbox({
      ...server.connectOptions(),
      transport: "channels",
      knownHostsPath: knownHosts(),
    });
    try {
      const dir = mkdtempSync(join(scratch, "dir-"));
      // asyncssh's own answer is a generic failure, not a status that says "directory".
      await expectSandboxError(sandbox.readFile(dir), "is_a_directory");
      await expectSandboxError(sandbox.readFileBuffer(dir), "is_a_directory");
      await expectSandboxError(sandbox.readFile(join(dir, "missing")), "not_found");
    } finally {
      await sandbox.close();
      await server.stop();
    }
  });
});
