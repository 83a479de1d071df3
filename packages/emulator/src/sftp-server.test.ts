import { randomBytes } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createExeDevApi, generateSshKeyPair } from "@exedev-sandbox/core";
import ssh2, { type Client, type ClientChannel, type SFTPWrapper, type Stats } from "ssh2";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { RawSftp } from "./test-sftp-client.js";

const { STATUS_CODE, OPEN_MODE } = ssh2.utils.sftp;
const key = generateSshKeyPair("sftp-test");

let emulator: Emulator;
let vm: string;
let workspace: string;
let connection: Client;

beforeAll(async () => {
  emulator = await startEmulator();
  emulator.registerKey(key.publicKey);
  vm = (await createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() }).newVm()).name;
  workspace = join(emulator.dataDir, "vms", vm);
  connection = await connect();
});
afterAll(async () => {
  connection?.end();
  await emulator?.stop();
});

function connect(): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.once("ready", () => resolve(client));
    client.once("error", reject);
    client.connect({
      host: emulator.sshHost,
      port: emulator.sshPort,
      username: `vm+${vm}`,
      privateKey: key.privateKey,
    });
  });
}

/** Calls an ssh2 SFTP method and resolves with its result, or with the error's SFTP status code. */
function call<T>(
  invoke: (done: (error: (Error & { code?: number }) | null | undefined, value?: T) => void) => void,
) {
  return new Promise<{ value?: T; code?: number }>((resolve) =>
    invoke((error, value) => resolve(error ? { code: error.code ?? -1 } : { value: value as T, code: 0 })),
  );
}

describe("SFTP server (through ssh2's client)", () => {
  let sftp: SFTPWrapper;
  let dir: string;
  beforeAll(async () => {
    sftp = await new Promise((resolve, reject) =>
      connection.sftp((error, session) => (error ? reject(error) : resolve(session))),
    );
  });
  beforeEach(() => {
    dir = join(workspace, `case-${randomBytes(3).toString("hex")}`);
    mkdirSync(dir);
  });

  it("advertises OpenSSH's extensions, and raises the request size with limits@openssh.com", async () => {
    const extensions = (sftp as unknown as { _extensions: Record<string, string> })._extensions;
    expect(extensions).toMatchObject({
      "posix-rename@openssh.com": "1",
      "hardlink@openssh.com": "1",
      "fsync@openssh.com": "1",
      "limits@openssh.com": "1",
    });
    const data = randomBytes(600_000);
    writeFileSync(join(dir, "big.bin"), data);
    const handle = (await call<Buffer>((done) => sftp.open(join(dir, "big.bin"), "r", done))).value as Buffer;
    const buffer = Buffer.alloc(300_000);
    const read = await call<number>((done) =>
      sftp.read(handle, buffer, 0, 261_120, 0, (error, bytes) => done(error, bytes)),
    );
    expect(read.value).toBe(261_120); // not ssh2's 31952-byte default for non-OpenSSH servers
    expect(buffer.subarray(0, 261_120).equals(data.subarray(0, 261_120))).toBe(true);
    await call((done) => sftp.close(handle, done));
  });

  it("resolves relative paths against the workspace, and realpath resolves like sftp-server's", async () => {
    expect((await call<string>((done) => sftp.realpath(".", done))).value).toBe(workspace);
    mkdirSync(join(workspace, "a"), { recursive: true });
    mkdirSync(join(workspace, "b"), { recursive: true });
    // A missing last component is allowed (clients resolve where a new file goes); others are not.
    expect((await call<string>((done) => sftp.realpath("a/../b/./c", done))).value).toBe(
      join(workspace, "b", "c"),
    );
    expect((await call<string>((done) => sftp.realpath("missing/../b", done))).code).toBe(
      STATUS_CODE.NO_SUCH_FILE,
    );
    await call((done) => sftp.writeFile("relative.txt", "rel", done));
    expect(readFileSync(join(workspace, "relative.txt"), "utf8")).toBe("rel");
  });

  it("plain rename never replaces; posix-rename does; hardlink links", async () => {
    writeFileSync(join(dir, "a"), "A");
    writeFileSync(join(dir, "b"), "B");
    mkdirSync(join(dir, "d1"));
    mkdirSync(join(dir, "d2"));
    expect((await call((done) => sftp.rename(join(dir, "a"), join(dir, "b"), done))).code).toBe(
      STATUS_CODE.FAILURE,
    );
    expect(readFileSync(join(dir, "a"), "utf8")).toBe("A");
    expect(readFileSync(join(dir, "b"), "utf8")).toBe("B");
    expect((await call((done) => sftp.rename(join(dir, "d1"), join(dir, "d2"), done))).code).toBe(
      STATUS_CODE.FAILURE,
    );
    expect((await call((done) => sftp.rename(join(dir, "missing"), join(dir, "x"), done))).code).toBe(
      STATUS_CODE.NO_SUCH_FILE,
    );
    expect((await call((done) => sftp.rename(join(dir, "a"), join(dir, "c"), done))).code).toBe(0);
    expect(existsSync(join(dir, "a"))).toBe(false);
    expect((await call((done) => sftp.rename(join(dir, "d1"), join(dir, "d3"), done))).code).toBe(0);
    expect((await call((done) => sftp.ext_openssh_rename(join(dir, "c"), join(dir, "b"), done))).code).toBe(
      0,
    );
    expect(readFileSync(join(dir, "b"), "utf8")).toBe("A");
    expect(
      (await call((done) => sftp.ext_openssh_hardlink(join(dir, "b"), join(dir, "hard"), done))).code,
    ).toBe(0);
    expect(statSync(join(dir, "hard")).ino).toBe(statSync(join(dir, "b")).ino);
  });

  it("opens with the right flags and reports missing or existing files", async () => {
    const file = join(dir, "f.txt");
    expect((await call((done) => sftp.open(file, "r", done))).code).toBe(STATUS_CODE.NO_SUCH_FILE);
    writeFileSync(file, "12345");
    expect((await call((done) => sftp.open(file, "wx", done))).code).toBe(STATUS_CODE.FAILURE);
    await call((done) => sftp.appendFile(file, "678", done));
    expect(readFileSync(file, "utf8")).toBe("12345678");
    await call((done) => sftp.writeFile(file, "new", done));
    expect(readFileSync(file, "utf8")).toBe("new");
    const created = await call<Buffer>((done) =>
      sftp.open(join(dir, "mode.txt"), "wx", { mode: 0o640 }, done),
    );
    expect(created.code).toBe(0);
    const handle = created.value as Buffer;
    expect((await call((done) => sftp.write(handle, Buffer.from("xyz"), 0, 3, 10, done))).code).toBe(0);
    expect((await call((done) => sftp.ext_openssh_fsync(handle, done))).code).toBe(0);
    expect((await call<Stats>((done) => sftp.fstat(handle, done))).value?.size).toBe(13);
    await call((done) => sftp.fchmod(handle, 0o600, done));
    await call((done) => sftp.futimes(handle, 1_000_000, 2_000_000, done));
    await call((done) => sftp.close(handle, done));
    const stats = statSync(join(dir, "mode.txt"));
    expect(stats.mode & 0o777).toBe(0o600);
    expect(stats.mtimeMs).toBe(2_000_000_000);
    expect((await call((done) => sftp.close(handle, done))).code).toBe(STATUS_CODE.FAILURE); // closed twice
  });

  it("stats files and links, and sets modes, times and sizes by path", async () => {
    writeFileSync(join(dir, "target"), "hello");
    symlinkSync("target", join(dir, "link"));
    const viaLink = (await call<Stats>((done) => sftp.stat(join(dir, "link"), done))).value;
    const link = (await call<Stats>((done) => sftp.lstat(join(dir, "link"), done))).value;
    expect(viaLink?.isFile()).toBe(true);
    expect(viaLink?.size).toBe(5);
    expect(link?.isSymbolicLink()).toBe(true);
    expect((await call((done) => sftp.stat(join(dir, "nope"), done))).code).toBe(STATUS_CODE.NO_SUCH_FILE);
    await call((done) => sftp.setstat(join(dir, "target"), { size: 2 }, done));
    await call((done) => sftp.chmod(join(dir, "target"), 0o604, done));
    await call((done) => sftp.utimes(join(dir, "target"), 1_500_000, 1_600_000, done));
    const stats = statSync(join(dir, "target"));
    expect(stats.mode & 0o777).toBe(0o604);
    expect(stats.mtimeMs).toBe(1_600_000_000);
    expect(readFileSync(join(dir, "target"), "utf8")).toBe("he");
  });

  it("makes and removes directories and files, with OpenSSH's status codes", async () => {
    expect((await call((done) => sftp.mkdir(join(dir, "sub"), { mode: 0o750 }, done))).code).toBe(0);
    expect(statSync(join(dir, "sub")).mode & 0o777).toBe(0o750);
    expect((await call((done) => sftp.mkdir(join(dir, "sub"), done))).code).toBe(STATUS_CODE.FAILURE);
    expect((await call((done) => sftp.mkdir(join(dir, "no", "parent"), done))).code).toBe(
      STATUS_CODE.NO_SUCH_FILE,
    );
    writeFileSync(join(dir, "sub", "f"), "x");
    expect((await call((done) => sftp.rmdir(join(dir, "sub"), done))).code).toBe(STATUS_CODE.FAILURE);
    expect((await call((done) => sftp.unlink(join(dir, "sub"), done))).code).not.toBe(0);
    expect((await call((done) => sftp.unlink(join(dir, "sub", "f"), done))).code).toBe(0);
    expect((await call((done) => sftp.rmdir(join(dir, "sub"), done))).code).toBe(0);
    expect((await call((done) => sftp.unlink(join(dir, "sub"), done))).code).toBe(STATUS_CODE.NO_SUCH_FILE);
    writeFileSync(join(dir, "plain"), "x");
    expect((await call((done) => sftp.readdir(join(dir, "plain"), done))).code).toBe(
      STATUS_CODE.NO_SUCH_FILE,
    );
  });

  it("lists large directories in batches, with attributes and ls-style long names", async () => {
    for (let i = 0; i < 250; i++)
      writeFileSync(join(dir, `file-${String(i).padStart(3, "0")}`), "x".repeat(i));
    mkdirSync(join(dir, "zdir"));
    const listing = (
      await call<Array<{ filename: string; longname: string; attrs: Stats }>>((done) =>
        sftp.readdir(dir, done),
      )
    ).value as Array<{ filename: string; longname: string; attrs: Stats }>;
    const names = listing.map((entry) => entry.filename).filter((name) => name !== "." && name !== "..");
    expect(names.sort()).toHaveLength(251);
    const file = listing.find((entry) => entry.filename === "file-042");
    expect(file?.attrs.size).toBe(42);
    expect(file?.longname).toMatch(/^-rw-r--r-- +1 \S+ +\S+ +42 \w{3} [ \d]\d [\d: ]{5} file-042$/);
    expect(listing.find((entry) => entry.filename === "zdir")?.longname).toMatch(/^drwxr-xr-x /);
  });

  it("makes and reads symbolic links: ssh2 sends OpenSSH's order, as the server names itself OpenSSH", async () => {
    writeFileSync(join(dir, "real"), "data");
    expect((await call((done) => sftp.symlink("real", join(dir, "sym"), done))).code).toBe(0);
    expect(readlinkSync(join(dir, "sym"))).toBe("real");
    expect((await call<string>((done) => sftp.readlink(join(dir, "sym"), done))).value).toBe("real");
    expect((await call((done) => sftp.readlink(join(dir, "real"), done))).code).not.toBe(0);
    expect(lstatSync(join(dir, "sym")).isSymbolicLink()).toBe(true);
  });
});

describe("SFTP server (raw protocol)", () => {
  const { u32, str } = RawSftp;
  const openRaw = async (): Promise<RawSftp<ClientChannel>> => {
    const channel = await new Promise<ClientChannel>((resolve, reject) =>
      connection.subsys("sftp", (error, stream) => (error ? reject(error) : resolve(stream))),
    );
    return new RawSftp(channel);
  };
  const status = async (raw: RawSftp<ClientChannel>, id: number): Promise<number> => {
    const packet = await raw.next();
    expect(packet[0]).toBe(101);
    expect(packet.readUInt32BE(1)).toBe(id);
    return packet.readUInt32BE(5);
  };

  it("answers unknown and malformed requests with a status and keeps the session", async () => {
    const raw = await openRaw();
    raw.send(1, u32(3));
    const version = await raw.next();
    expect(version[0]).toBe(2);
    expect(version.readUInt32BE(1)).toBe(3);
    const text = version.subarray(5).toString("latin1");
    for (const name of [
      "posix-rename@openssh.com",
      "hardlink@openssh.com",
      "fsync@openssh.com",
      "limits@openssh.com",
    ]) {
      expect(text).toContain(name);
    }

    raw.send(99, u32(7), Buffer.from("whatever"));
    expect(await status(raw, 7)).toBe(STATUS_CODE.OP_UNSUPPORTED);
    raw.send(3, u32(8), u32(100)); // OPEN whose file name is cut short
    expect(await status(raw, 8)).toBe(STATUS_CODE.BAD_MESSAGE);
    raw.send(200, u32(9), str("statvfs@openssh.com"), str("/"));
    expect(await status(raw, 9)).toBe(STATUS_CODE.OP_UNSUPPORTED);
    raw.send(200, u32(10), str("posix-rename@openssh.com"), u32(50));
    expect(await status(raw, 10)).toBe(STATUS_CODE.BAD_MESSAGE);
    raw.send(5, u32(11), str(u32(12345)), Buffer.alloc(8), u32(10)); // READ on a handle never opened
    expect(await status(raw, 11)).toBe(STATUS_CODE.FAILURE);
    raw.send(2, u32(12)); // a VERSION packet from the client
    expect(await status(raw, 12)).toBe(STATUS_CODE.OP_UNSUPPORTED);

    raw.send(200, u32(13), str("limits@openssh.com"));
    const limits = await raw.next();
    expect(limits[0]).toBe(201);
    expect(limits.readUInt32BE(1)).toBe(13);
    expect(Number(limits.readBigUInt64BE(5))).toBe(256 * 1024);
    expect(Number(limits.readBigUInt64BE(13))).toBe(261_120);

    writeFileSync(join(workspace, "raw.txt"), "abc");
    raw.send(3, u32(14), str("raw.txt"), u32(OPEN_MODE.READ), u32(0));
    const handlePacket = await raw.next();
    expect(handlePacket[0]).toBe(102);
    const handle = handlePacket.subarray(9, 9 + handlePacket.readUInt32BE(5));
    const readAt = (id: number, offset: number) => {
      const position = Buffer.alloc(8);
      position.writeBigUInt64BE(BigInt(offset));
      raw.send(5, u32(id), str(handle), position, u32(100));
    };
    readAt(15, 0);
    const data = await raw.next();
    expect(data[0]).toBe(103);
    expect(data.subarray(9).toString()).toBe("abc");
    readAt(16, 3);
    expect(await status(raw, 16)).toBe(STATUS_CODE.EOF);

    raw.send(16, u32(17), str(".")); // REALPATH
    const name = await raw.next();
    expect(name[0]).toBe(104);
    expect(name.subarray(13, 13 + name.readUInt32BE(9)).toString()).toBe(workspace);
    raw.channel.close();
  });

  it("closes the session, and only the session, when framing is lost", async () => {
    const raw = await openRaw();
    raw.send(1, u32(3));
    await raw.next();
    const closed = new Promise<void>((resolve) => raw.channel.once("close", () => resolve()));
    raw.channel.write(u32(0));
    await closed;
    const again = await openRaw();
    again.send(1, u32(3));
    expect((await again.next())[0]).toBe(2);
    again.channel.close();
    const other = await connect();
    other.end();
  });

  it("closes the session when the first packet is not INIT", async () => {
    const raw = await openRaw();
    const closed = new Promise<void>((resolve) => raw.channel.once("close", () => resolve()));
    raw.send(16, u32(1), str("."));
    await closed;
  });
});
