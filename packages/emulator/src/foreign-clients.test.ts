// Clients that are not ssh2 against the emulator: paramiko and asyncssh (Debian's
// python3-paramiko and python3-asyncssh, under /usr/bin/python3), run as the scripts in
// test/foreign-clients/. Each logs in, runs a command and works on files in a case directory
// prepared here; the test checks what the script reports and what is on disk.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createExeDevApi } from "@exedev-sandbox/core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { describeWith } from "./test-gate.js";
import { run } from "./test-helpers.js";

const PYTHON = "/usr/bin/python3";
const SCRIPTS = fileURLToPath(new URL("../test/foreign-clients/", import.meta.url));

function hasPythonClients(): boolean {
  try {
    execFileSync(PYTHON, ["-c", "import paramiko, asyncssh"], { stdio: "ignore", timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

const scratch = mkdtempSync(join(tmpdir(), "exedev-foreign-clients-"));
let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator();
});
afterAll(async () => {
  await emulator?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** A fresh key of `type`, registered with the emulator; returns the private key's file. */
async function keyFile(type: string, bits: string[] = []): Promise<string> {
  const file = join(scratch, `id-${type}-${randomBytes(3).toString("hex")}`);
  const made = await run("ssh-keygen", ["-q", "-t", type, ...bits, "-N", "", "-f", file]);
  expect(made.code).toBe(0);
  emulator.registerKey(readFileSync(`${file}.pub`, "utf8"));
  return file;
}

/**
 * A new VM with a case directory: `ly -> x/y`, `x/victim`, `victim`, and unless `latin1` is
 * false a file with a Latin-1 (not UTF-8) name.
 */
async function prepare(latin1 = true): Promise<{ vm: string; dir: string; name: string }> {
  const api = createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() });
  const vm = (await api.newVm()).name;
  const name = `case-${randomBytes(3).toString("hex")}`;
  const dir = join(emulator.dataDir, "vms", vm, name);
  mkdirSync(join(dir, "x", "y"), { recursive: true });
  writeFileSync(join(dir, "x", "victim"), "in x");
  writeFileSync(join(dir, "victim"), "at the top");
  symlinkSync("x/y", join(dir, "ly"));
  if (latin1)
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x6f, 0x6c, 0x64, 0xe9])]), "old");
  return { vm, dir, name };
}

/** Runs a client script and parses the JSON it prints; a failure shows its stderr. */
async function client(script: string, vm: string, key: string, caseName: string, extra: string[] = []) {
  const result = await run(
    PYTHON,
    [join(SCRIPTS, script), emulator.sshHost, String(emulator.sshPort), `vm+${vm}`, key, caseName, ...extra],
    { timeout: 60_000 },
  );
  expect({ code: result.code, stderr: result.code === 0 ? "" : result.stderr }).toEqual({
    code: 0,
    stderr: "",
  });
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** What every script must find about `ly/../victim`: it meant x/victim. */
function expectDotDotThroughTheLink(dir: string): void {
  expect(existsSync(join(dir, "x", "victim"))).toBe(false);
  expect(readFileSync(join(dir, "victim"), "utf8")).toBe("at the top");
}

describeWith(
  "foreign clients (paramiko, asyncssh)",
  {
    available: hasPythonClients(),
    what: `${PYTHON} with paramiko and asyncssh`,
    install: "install python3-paramiko and python3-asyncssh (Debian packages, for /usr/bin/python3)",
  },
  () => {
    it("paramiko with an RSA key that may sign only with rsa-sha2-512: exec and SFTP", async () => {
      const key = await keyFile("rsa", ["-b", "3072"]);
      // paramiko decodes listed names as UTF-8 and fails on others, whatever the server, so its
      // directory holds UTF-8 names only; it still makes a Latin-1 name by a bytes path.
      const { vm, dir, name } = await prepare(false);
      const report = await client("paramiko_client.py", vm, key, name, ["rsa-sha2-256", "ssh-rsa"]);
      expect(report).toEqual({
        exec: { stdout: "out\n", stderr: "err\n", code: 3 },
        get_matches: true,
        listing: ["ly", "put.bin", "victim", "x"],
        readlink: "put.bin",
        latin1_size: 12,
      });
      // paramiko's symlink() made the link where it asked, pointing where it asked.
      expect(readlinkSync(join(dir, "link"))).toBe("put.bin");
      expect(existsSync(join(dir, "put.bin"))).toBe(false);
      expect(existsSync(join(dir, "renamed.bin"))).toBe(false);
      expectDotDotThroughTheLink(dir);
      const latin1 = Buffer.concat([Buffer.from(`${dir}/`), Buffer.from("caf"), Buffer.from([0xe9])]);
      expect(readFileSync(latin1, "utf8")).toBe("latin-1 name");
    });

    for (const [type, bits] of [
      ["ed25519", []],
      ["ecdsa", ["-b", "521"]],
    ] as const) {
      it(`asyncssh with an ${type} key: exec, SFTP put/get, symlink, rename, remove, non-UTF-8 names`, async () => {
        const key = await keyFile(type, [...bits]);
        const { vm, dir, name } = await prepare();
        const report = await client("asyncssh_client.py", vm, key, name);
        const broken = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]);
        const old = Buffer.from([0x6f, 0x6c, 0x64, 0xe9]);
        expect(report).toEqual({
          exec: { stdout: "out\n", stderr: "err\n", code: 3 },
          get_matches: true,
          readlink: "put.bin",
          listing_hex: [".", "..", "link", "ly", "victim", "x"]
            .map((entry) => Buffer.from(entry))
            .concat([broken, old])
            .map((entry) => entry.toString("hex"))
            .sort(),
        });
        expect(readlinkSync(join(dir, "link"))).toBe("put.bin");
        expectDotDotThroughTheLink(dir);
        const onDisk = readdirSync(dir, { encoding: "buffer" });
        expect(onDisk.some((entry) => entry.equals(broken))).toBe(true);
        expect(readFileSync(Buffer.concat([Buffer.from(`${dir}/`), broken]), "utf8")).toBe("not UTF-8");
      });
    }
  },
);
