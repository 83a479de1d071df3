// The emulator's SFTP server against OpenSSH's own sftp-server, run as a plain process on the
// same files: every scenario sends the same packets to both and expects the same answers and
// the same effects on disk.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createExeDevApi, generateSshKeyPair } from "@exedev-sandbox/core";
import ssh2, { type Client, type ClientChannel } from "ssh2";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { describeWith } from "./test-gate.js";
import { RawSftp, type Reply } from "./test-sftp-client.js";

const SFTP_SERVER = "/usr/lib/openssh/sftp-server";
const { str, u32, u64 } = RawSftp;
const OPEN = 3;
const READ = 5;
const CLOSE = 4;
const STAT = 17;
const REMOVE = 13;
const REALPATH = 16;
const RENAME = 18;
const READLINK = 19;
const SYMLINK = 20;
const FXF_READ = 1;
const FXF_WRITE = 2;
const FXF_CREAT = 8;

/** Where one server works: its root, and how to reach it. */
interface Side {
  root: string;
  open(): Promise<{ raw: RawSftp; done(): void }>;
}

const key = generateSshKeyPair("sftp-parity");
let emulator: Emulator;
let connection: Client;
let openssh: Side;
let ours: Side;
const scratch = mkdtempSync(join(tmpdir(), "exedev-sftp-parity-"));

beforeAll(async () => {
  emulator = await startEmulator();
  emulator.registerKey(key.publicKey);
  const vm = (await createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken() }).newVm())
    .name;
  connection = await new Promise<Client>((resolve, reject) => {
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
  ours = {
    root: realpathSync(join(emulator.dataDir, "vms", vm)),
    open: async () => {
      const channel = await new Promise<ClientChannel>((resolve, reject) =>
        connection.subsys("sftp", (error, stream) => (error ? reject(error) : resolve(stream))),
      );
      const raw = new RawSftp(channel);
      await raw.init();
      return { raw, done: () => channel.close() };
    },
  };
  const root = realpathSync(scratch);
  openssh = {
    root,
    open: async () => {
      // sftp-server resolves relative paths against its working directory.
      const child = spawn(SFTP_SERVER, [], { cwd: root, stdio: ["pipe", "pipe", "ignore"] });
      const raw = new RawSftp({
        write: (data) => child.stdin.write(data),
        on: (event, listener) => child.stdout.on(event, listener),
      });
      await raw.init();
      return { raw, done: () => child.kill() };
    },
  };
});
afterAll(async () => {
  connection?.end();
  await emulator?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** Replies with what legitimately differs (handle numbers, the root directory) taken out. */
function normalise(replies: readonly Reply[], root: string): unknown[] {
  return replies.map((reply) => {
    if (reply.type === "handle") return { type: "handle" };
    if (reply.type === "name") {
      return {
        type: "name",
        names: reply.names.map((name) =>
          name.subarray(0, root.length).equals(Buffer.from(root))
            ? Buffer.concat([Buffer.from("<root>"), name.subarray(root.length)])
            : name,
        ),
      };
    }
    return reply;
  });
}

/**
 * Sets up the same case directory under both servers' roots, runs `script` against each, and
 * returns both servers' normalised replies and case directories.
 */
async function onBoth(
  setup: (dir: string) => void,
  script: (raw: RawSftp, dir: string, push: (reply: Reply) => void) => Promise<void>,
): Promise<Array<{ replies: unknown[]; dir: string }>> {
  const name = `case-${randomBytes(3).toString("hex")}`;
  const results: Array<{ replies: unknown[]; dir: string }> = [];
  for (const side of [openssh, ours]) {
    const dir = join(side.root, name);
    mkdirSync(dir);
    setup(dir);
    const { raw, done } = await side.open();
    const replies: Reply[] = [];
    try {
      await script(raw, name, (reply) => replies.push(reply));
    } finally {
      done();
    }
    results.push({ replies: normalise(replies, side.root), dir });
  }
  return results;
}

describeWith(
  "SFTP server (same answers as OpenSSH's sftp-server)",
  { available: existsSync(SFTP_SERVER), what: SFTP_SERVER, install: "install openssh-sftp-server" },
  () => {
    it("resolves .. through symbolic links, as the kernel does: ly/../victim is x/victim", async () => {
      const sides = await onBoth(
        (dir) => {
          mkdirSync(join(dir, "x", "y"), { recursive: true });
          writeFileSync(join(dir, "x", "victim"), "in x");
          writeFileSync(join(dir, "victim"), "at the top");
          symlinkSync("x/y", join(dir, "ly"));
        },
        async (raw, dir, push) => {
          push(await raw.request(REMOVE, str(`${dir}/ly/../victim`)));
          push(await raw.request(STAT, str(`${dir}/ly/../victim`)));
          push(await raw.request(REALPATH, str(`${dir}/ly/..`)));
          push(await raw.request(REALPATH, str(`${dir}/ly/../new-name`)));
          push(await raw.request(REALPATH, str(`${dir}/missing/../x`)));
          const opened = await raw.request(
            OPEN,
            str(`${dir}/ly/../made`),
            u32(FXF_WRITE | FXF_CREAT),
            u32(0),
          );
          push(opened);
          if (opened.type === "handle") push(await raw.request(CLOSE, str(opened.handle)));
          push(await raw.request(RENAME, str(`${dir}/ly/../made`), str(`${dir}/ly/../../renamed`)));
        },
      );
      for (const { dir } of sides) {
        expect(existsSync(join(dir, "x", "victim"))).toBe(false);
        expect(readFileSync(join(dir, "victim"), "utf8")).toBe("at the top");
        expect(existsSync(join(dir, "renamed"))).toBe(true);
      }
      const [theirs, mine] = sides;
      expect(mine?.replies).toEqual(theirs?.replies);
    });

    it("opens a directory for reading and fails the read, with the same statuses", async () => {
      const [theirs, mine] = await onBoth(
        (dir) => mkdirSync(join(dir, "d")),
        async (raw, dir, push) => {
          const opened = await raw.request(OPEN, str(`${dir}/d`), u32(FXF_READ), u32(0));
          push(opened);
          if (opened.type === "handle") {
            push(await raw.request(READ, str(opened.handle), u64(0), u32(100)));
            push(await raw.request(CLOSE, str(opened.handle)));
          }
          push(await raw.request(OPEN, str(`${dir}/d`), u32(FXF_WRITE), u32(0)));
          push(await raw.request(REMOVE, str(`${dir}/d`)));
          push(await raw.request(REMOVE, str(`${dir}/nothing`)));
        },
      );
      expect(mine?.replies).toEqual(theirs?.replies);
    });

    it("lists, makes, renames and links non-UTF-8 names byte for byte", async () => {
      const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in Latin-1: not UTF-8
      const broken = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]);
      const sides = await onBoth(
        (dir) => {
          writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), latin1]), "latin-1");
          writeFileSync(join(dir, "plain"), "plain");
        },
        async (raw, dir, push) => {
          const listed = await raw.list(dir);
          push(Array.isArray(listed) ? { type: "name", names: listed } : listed);
          const path = (name: Buffer): Buffer => Buffer.concat([Buffer.from(`${dir}/`), name]);
          const opened = await raw.request(OPEN, str(path(broken)), u32(FXF_WRITE | FXF_CREAT), u32(0));
          push(opened);
          if (opened.type === "handle") push(await raw.request(CLOSE, str(opened.handle)));
          push(await raw.request(RENAME, str(path(latin1)), str(path(Buffer.from([0xe9, 0x31])))));
          push(await raw.request(SYMLINK, str(broken), str(`${dir}/to-broken`)));
          push(await raw.request(READLINK, str(`${dir}/to-broken`)));
          const again = await raw.list(dir);
          push(Array.isArray(again) ? { type: "name", names: again } : again);
        },
      );
      for (const { dir } of sides) {
        const names = readdirSync(dir, { encoding: "buffer" }).sort(Buffer.compare);
        expect(names).toEqual(
          [broken, Buffer.from([0xe9, 0x31]), Buffer.from("plain"), Buffer.from("to-broken")].sort(
            Buffer.compare,
          ),
        );
        expect(readlinkSync(join(dir, "to-broken"), { encoding: "buffer" })).toEqual(broken);
      }
      const [theirs, mine] = sides;
      expect(mine?.replies).toEqual(theirs?.replies);
    });

    it("takes SYMLINK's arguments in OpenSSH's order: the target, then the new link", async () => {
      const sides = await onBoth(
        (dir) => writeFileSync(join(dir, "real"), "data"),
        async (raw, dir, push) => {
          push(await raw.request(SYMLINK, str("real"), str(`${dir}/link`)));
          push(await raw.request(READLINK, str(`${dir}/link`)));
        },
      );
      for (const { dir } of sides) expect(readlinkSync(join(dir, "link"))).toBe("real");
      const [theirs, mine] = sides;
      expect(mine?.replies).toEqual(theirs?.replies);
    });
  },
);
