import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  type Stats,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TestAgent } from "./agent-test-client.js";
import { type AgentStat, FieldReader, NO_MODE, Reply, Request, readStat } from "./protocol.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Polls until `ready()` holds; on a loaded machine the first frames can take seconds to come. */
const until = async (ready: () => boolean, ms = 20_000) => {
  for (const end = performance.now() + ms; !ready() && performance.now() < end; ) await sleep(10);
};
const umask = process.umask();

let home: string;
let agent: TestAgent;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "agent-files-"));
  agent = new TestAgent({ cwd: home });
});

afterEach(() => {
  agent.kill();
  // The agent writes on stderr only about its own bugs (warnings, internal errors).
  expect(agent.stderr).toBe("");
  rmSync(home, { recursive: true, force: true });
});

const at = (...names: string[]) => join(home, ...names);
const asRecord = (s: Stats): AgentStat => ({
  mode: s.mode,
  size: s.size,
  mtimeSeconds: Math.floor(s.mtimeMs / 1000),
  uid: s.uid,
  gid: s.gid,
});
const stat = async (type: number, path: string) =>
  readStat(new FieldReader(await agent.ok(type, [{ str: path }])));
const rm = (path: string, flags: number, givenHome = home) =>
  agent.request(Request.RM, [{ str: path }, { str: givenHome }, { u32: flags }]);
const errnoOf = async (answer: Promise<{ last: { type: number; payload: Buffer } }>) => {
  const { last } = await answer;
  return last.type === Reply.OK ? "OK" : new FieldReader(last.payload).str();
};
const tempFiles = (dir = home) => readdirSync(dir).filter((name) => name.endsWith(".tmp"));

describe("agent READ", () => {
  it("sends the content in DATA frames of at most 256 KiB, then OK", async () => {
    const content = randomBytes(1024 * 1024 + 17);
    writeFileSync(at("f.bin"), content);
    const r = await agent.readFile("f.bin");
    expect(r.errno).toBeUndefined();
    expect(r.data.equals(content)).toBe(true);
    const data = r.frames.filter((frame) => frame.type === Reply.DATA);
    expect(data.length).toBe(5);
    expect(Math.max(...data.map((frame) => frame.payload.length))).toBe(256 * 1024);
    writeFileSync(at("empty"), "");
    const empty = await agent.readFile(at("empty"));
    expect([empty.data.length, empty.errno]).toEqual([0, undefined]);
  });

  it("answers ENOENT, EISDIR, and EFBIG with the size; exactly maxBytes is fine", async () => {
    writeFileSync(at("ten"), "0123456789");
    expect((await agent.readFile("missing")).errno).toBe("ENOENT");
    expect((await agent.readFile(".")).errno).toBe("EISDIR");
    expect(await agent.readFile("ten", 9)).toMatchObject({ errno: "EFBIG", message: "10" });
    expect((await agent.readFile("ten", 10)).data.toString()).toBe("0123456789");
    expect((await agent.readFile("ten/x")).errno).toBe("ENOTDIR");
  });

  it("answers EFBIG when the content grows past maxBytes while it is read (a FIFO)", async () => {
    execFileSync("mkfifo", [at("fifo")]);
    // The writer waits in open() until the agent opens the FIFO, so the data always comes.
    const writer = spawn("sh", ["-c", `head -c 5000 /dev/zero > ${at("fifo")}`]);
    await sleep(100);
    const r = await agent.readFile("fifo", 1000);
    expect(r.errno).toBe("EFBIG");
    expect(Number(r.message)).toBeGreaterThan(1000);
    writer.kill();
  });

  it("cancels a READ on KILL with ERR ECANCELED", async () => {
    execFileSync("mkfifo", [at("fifo")]);
    const writer = spawn("sh", ["-c", `exec 3>${at("fifo")}; sleep 30`]);
    await sleep(100);
    const id = agent.id();
    const answer = agent.wait(id);
    agent.send(Request.READ, id, [{ str: "fifo" }, { u64: 100 }]);
    await sleep(200);
    agent.send(Request.KILL, id);
    expect(await errnoOf(answer)).toBe("ECANCELED");
    writer.kill();
  });

  it("answers 1000 concurrent READs (no descriptor runs out)", async () => {
    for (let i = 0; i < 1000; i++) writeFileSync(at(`r${i}`), `content ${i}`);
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => agent.readFile(`r${i}`)));
    expect(results.map((r) => r.data.toString())).toEqual(results.map((_, i) => `content ${i}`));
  });

  it("reads 64 MiB in chunks between small EXECs, and queues at most ~1 MiB for a slow client", async () => {
    const content = randomBytes(64 * 1024 * 1024);
    writeFileSync(at("big"), content);
    const hello = await agent.hello;
    const stdout = agent.child.stdout!;
    // A slow client: reads for 5 ms, then pauses for 20 ms.
    let slow = true;
    const throttle = setInterval(() => {
      if (!slow) return;
      stdout.pause();
      setTimeout(() => stdout.resume(), 20);
    }, 25);
    const vmRss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${hello.pid}/status`, "utf8"))?.[1]);
    const readId = agent.id();
    const read = agent.wait(readId);
    let readDoneAt = 0;
    void read.then(() => {
      readDoneAt = performance.now();
    });
    agent.send(Request.READ, readId, [{ str: "big" }, { u64: content.length }]);
    const execs: number[] = [];
    let maxRssKb = 0;
    const readSentAt = performance.now();
    while (readDoneAt === 0) {
      const sentAt = performance.now();
      const r = await agent.exec("echo small");
      expect(r.stdout).toBe("small\n");
      if (readDoneAt === 0) execs.push(r.atMs - sentAt);
      maxRssKb = Math.max(maxRssKb, vmRss());
    }
    const readMs = readDoneAt - readSentAt;
    slow = false;
    clearInterval(throttle);
    stdout.resume();
    const { frames, last } = await read;
    expect(last.type).toBe(Reply.OK);
    const data = Buffer.concat(frames.map((frame) => frame.payload));
    expect(createHash("sha256").update(data).digest("hex")).toBe(
      createHash("sha256").update(content).digest("hex"),
    );
    // The agent never held more than a few MiB (not the 64 MiB file).
    // Each small command took a small part of the READ's time (not: waited for it to end).
    expect(execs.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...execs)).toBeLessThan(readMs / 3);
    expect(maxRssKb).toBeLessThan(40 * 1024);
  }, 120_000);
});

describe("agent READ_STREAM and ACK", () => {
  const WINDOW = 512 * 1024;
  /** Frames of `id` as they arrive. */
  const collect = (id: number) => {
    const frames: Array<{ type: number; bytes: number }> = [];
    agent.listen(id, (frame) => frames.push({ type: frame.type, bytes: frame.payload.length }));
    return frames;
  };
  const sent = (frames: Array<{ type: number; bytes: number }>) =>
    frames.filter((f) => f.type === Reply.DATA).reduce((sum, f) => sum + f.bytes, 0);

  it("sends no more than the window until ACKs come, then the rest and OK", async () => {
    const content = randomBytes(4 * 1024 * 1024 + 123);
    writeFileSync(join(home, "big"), content);
    const id = agent.id();
    const frames = collect(id);
    const done = agent.wait(id);
    agent.send(Request.READ_STREAM, id, [{ str: "big" }, { u32: WINDOW }]);
    // The agent fills the window, however slowly the machine runs, and then holds there
    // while nothing is acknowledged, however long the reader waits.
    await until(() => sent(frames) >= WINDOW);
    expect(sent(frames)).toBe(WINDOW);
    await sleep(600);
    expect(sent(frames)).toBe(WINDOW);
    agent.send(Request.ACK, id, [{ u32: 256 * 1024 }]);
    await until(() => sent(frames) >= WINDOW + 256 * 1024);
    await sleep(300);
    expect(sent(frames)).toBe(WINDOW + 256 * 1024);
    // Acknowledging as it arrives reads the whole file, in order.
    let acked = 256 * 1024;
    while (!frames.some((f) => f.type !== Reply.DATA)) {
      const total = sent(frames);
      if (total > acked) {
        agent.send(Request.ACK, id, [{ u32: total - acked }]);
        acked = total;
      }
      await sleep(5);
    }
    const { frames: all, last } = await done;
    expect(last.type).toBe(Reply.OK);
    expect(Buffer.concat(all.map((frame) => frame.payload)).equals(content)).toBe(true);
  });

  it("answers ENOENT and EISDIR first, OK alone for an empty file, EPROTO for a window of 0", async () => {
    mkdirSync(join(home, "dir"));
    writeFileSync(join(home, "empty"), "");
    expect(await agent.err(Request.READ_STREAM, [{ str: "missing" }, { u32: WINDOW }])).toBe("ENOENT");
    expect(await agent.err(Request.READ_STREAM, [{ str: "dir" }, { u32: WINDOW }])).toBe("EISDIR");
    expect(await agent.err(Request.READ_STREAM, [{ str: "empty" }, { u32: 0 }])).toBe("EPROTO");
    const { frames, last } = await agent.request(Request.READ_STREAM, [{ str: "empty" }, { u32: WINDOW }]);
    expect(frames.filter((frame) => frame.type === Reply.DATA).length).toBe(0);
    expect(last.type).toBe(Reply.OK);
  });

  it("closes the file on KILL (ECANCELED); a paused stream holds no READ slot and no other request", async () => {
    writeFileSync(join(home, "big"), randomBytes(2 * 1024 * 1024));
    // More paused streams than READ has slots (16): READs and EXECs still answer.
    const ids = Array.from({ length: 20 }, () => agent.id());
    for (const id of ids) agent.send(Request.READ_STREAM, id, [{ str: "big" }, { u32: 64 * 1024 }]);
    await sleep(200);
    writeFileSync(join(home, "small"), "small");
    const read = await agent.request(Request.READ, [{ str: "small" }, { u64: 100 }]);
    expect(read.last.type).toBe(Reply.OK);
    expect((await agent.exec("echo ok")).stdout).toBe("ok\n");
    const open = () =>
      readdirSync(`/proc/${agent.child.pid}/fd`).filter((fd) => {
        try {
          return readlinkSync(`/proc/${agent.child.pid}/fd/${fd}`) === join(home, "big");
        } catch {
          return false;
        }
      }).length;
    expect(open()).toBe(20);
    const answers = ids.map((id) => agent.wait(id));
    for (const id of ids) agent.send(Request.KILL, id);
    for (const answer of await Promise.all(answers)) {
      expect(answer.last.type).toBe(Reply.ERR);
    }
    expect(open()).toBe(0);
  });
});

describe("agent WRITE", () => {
  it("creates a file with 0666 less the umask, creating missing parents", async () => {
    const { last } = await agent.writeFile("a/b/c/new.txt", "hello");
    expect(last.type).toBe(Reply.OK);
    expect(readFileSync(at("a/b/c/new.txt"), "utf8")).toBe("hello");
    expect(statSync(at("a/b/c/new.txt")).mode & 0o7777).toBe(0o666 & ~umask);
    expect(statSync(at("a/b")).mode & 0o7777).toBe(0o777 & ~umask);
    expect(tempFiles(at("a/b/c"))).toEqual([]);
  });

  it("keeps the mode of a file it replaces; sets an explicit mode exactly", async () => {
    writeFileSync(at("secret"), "old");
    chmodSync(at("secret"), 0o600);
    await agent.writeFile("secret", "new");
    expect(readFileSync(at("secret"), "utf8")).toBe("new");
    expect(statSync(at("secret")).mode & 0o7777).toBe(0o600);
    await agent.writeFile("script", "#!/bin/sh\n", 0o777);
    expect(statSync(at("script")).mode & 0o7777).toBe(0o777);
    await agent.writeFile("secret", "newer", 0o640);
    expect(statSync(at("secret")).mode & 0o7777).toBe(0o640);
  });

  it("replaces a symbolic link itself, never what it points to", async () => {
    writeFileSync(at("target"), "target");
    symlinkSync("target", at("link"));
    await agent.writeFile("link", "replaced");
    expect(lstatSync(at("link")).isFile()).toBe(true);
    expect(readFileSync(at("target"), "utf8")).toBe("target");
  });

  it("answers EISDIR for a directory and drops the INPUT that follows; ENOTDIR under a file", async () => {
    mkdirSync(at("dir"));
    const { last } = await agent.writeFile("dir", "x".repeat(1000));
    expect(new FieldReader(last.payload).str()).toBe("EISDIR");
    expect((await agent.writeFile("dir/", "x")).last.type).toBe(Reply.ERR);
    writeFileSync(at("file"), "");
    expect(new FieldReader((await agent.writeFile("file/x", "x")).last.payload).str()).toBe("ENOTDIR");
    expect((await agent.ok(Request.PING, [{ bytes: Buffer.from("p") }])).toString()).toBe("p");
    expect(agent.stray).toEqual([]);
    expect(tempFiles()).toEqual([]);
  });

  it("removes the temp file when the rename fails or the WRITE is cancelled", async () => {
    const id = agent.id();
    const answer = agent.wait(id);
    agent.send(Request.WRITE, id, [{ str: "later-a-dir" }, { u32: NO_MODE }]);
    agent.send(Request.INPUT, id, [{ bytes: Buffer.from("data") }]);
    await agent.ok(Request.PING, []);
    expect(tempFiles()).toHaveLength(1);
    // The temp file is private while it is written.
    expect(statSync(at(tempFiles()[0]!)).mode & 0o777).toBe(0o600);
    expect(tempFiles()[0]).toMatch(/^\.later-a-dir\.[0-9a-f]{12}\.tmp$/);
    mkdirSync(at("later-a-dir"));
    writeFileSync(at("later-a-dir/keep"), "");
    agent.send(Request.INPUT, id, []);
    expect(await errnoOf(answer)).toMatch(/^(EISDIR|ENOTEMPTY|EEXIST)$/);
    expect(tempFiles()).toEqual([]);

    const cancelId = agent.id();
    const cancelled = agent.wait(cancelId);
    agent.send(Request.WRITE, cancelId, [{ str: "cancelled" }, { u32: NO_MODE }]);
    agent.send(Request.INPUT, cancelId, [{ bytes: Buffer.from("data") }]);
    agent.send(Request.KILL, cancelId);
    expect(await errnoOf(cancelled)).toBe("ECANCELED");
    expect(readdirSync(home).filter((name) => name.includes("cancelled"))).toEqual([]);
  });

  it.runIf(process.getuid?.() === 0)(
    "answers ENOSPC when the disk is full, and leaves no temp file",
    async () => {
      const mount = at("small");
      mkdirSync(mount);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mount]);
      try {
        writeFileSync(join(mount, "f"), "old");
        const { last } = await agent.writeFile("small/f", randomBytes(1024 * 1024));
        expect(new FieldReader(last.payload).str()).toBe("ENOSPC");
        expect(readFileSync(join(mount, "f"), "utf8")).toBe("old");
        expect(tempFiles(mount)).toEqual([]);
      } finally {
        execFileSync("umount", [mount]);
      }
    },
  );

  it("is atomic: a reader sees the old or the new content, never a mix", async () => {
    const size = 4 * 1024 * 1024;
    writeFileSync(at("f"), Buffer.alloc(size, "a"));
    const id = agent.id();
    const answer = agent.wait(id);
    agent.send(Request.WRITE, id, [{ str: "f" }, { u32: NO_MODE }]);
    let done = false;
    void answer.then(() => {
      done = true;
    });
    const sender = (async () => {
      for (let offset = 0; offset < size; offset += 256 * 1024) {
        agent.send(Request.INPUT, id, [{ bytes: Buffer.alloc(256 * 1024, "b") }]);
        await sleep(10);
      }
      agent.send(Request.INPUT, id, []);
    })();
    const seen = new Set<string>();
    while (!done) {
      const content = readFileSync(at("f"));
      const kind =
        content.length === size && content.every((byte) => byte === 0x61)
          ? "old"
          : content.length === size && content.every((byte) => byte === 0x62)
            ? "new"
            : "mixed";
      seen.add(kind);
      await sleep(1);
    }
    await sender;
    expect((await answer).last.type).toBe(Reply.OK);
    expect(seen.has("mixed")).toBe(false);
    expect(seen.has("old")).toBe(true);
    expect(readFileSync(at("f")).every((byte) => byte === 0x62)).toBe(true);
    expect(tempFiles()).toEqual([]);
  });
});

describe("agent STAT, LSTAT, READDIR", () => {
  it("describes files, directories and links as stat and lstat do", async () => {
    writeFileSync(at("file"), "12345");
    mkdirSync(at("dir"));
    symlinkSync("file", at("link"));
    symlinkSync("nowhere", at("dangling"));
    expect(await stat(Request.STAT, "file")).toEqual(asRecord(statSync(at("file"))));
    expect(await stat(Request.STAT, at("dir"))).toEqual(asRecord(statSync(at("dir"))));
    expect(await stat(Request.STAT, "link")).toEqual(asRecord(statSync(at("file"))));
    expect(await stat(Request.LSTAT, "link")).toEqual(asRecord(lstatSync(at("link"))));
    expect(await stat(Request.STAT, "dangling")).toEqual(asRecord(lstatSync(at("dangling"))));
    expect(await agent.err(Request.STAT, [{ str: "missing" }])).toBe("ENOENT");
    expect(await agent.err(Request.LSTAT, [{ str: "file/x" }])).toBe("ENOTDIR");
  });

  it("lists a directory without . and .., each entry as lstat sees it", async () => {
    mkdirSync(at("d"));
    writeFileSync(at("d/file"), "x");
    mkdirSync(at("d/sub"));
    symlinkSync("file", at("d/link"));
    const odd = Buffer.from([0x6e, 0x0a, 0xff, 0x20]);
    writeFileSync(Buffer.concat([Buffer.from(`${at("d")}/`), odd]), "");
    const reader = new FieldReader(await agent.ok(Request.READDIR, [{ str: "d" }]));
    const count = reader.u32();
    const entries = new Map<string, AgentStat>();
    for (let i = 0; i < count; i++) entries.set(reader.buffer().toString("latin1"), readStat(reader));
    expect(reader.rest().length).toBe(0);
    expect([...entries.keys()].sort()).toEqual(["file", "link", odd.toString("latin1"), "sub"].sort());
    expect(entries.get("link")).toEqual(asRecord(lstatSync(at("d/link"))));
    expect(entries.get("sub")).toEqual(asRecord(lstatSync(at("d/sub"))));
    mkdirSync(at("empty"));
    expect((await agent.ok(Request.READDIR, [{ str: "empty" }])).equals(Buffer.alloc(4))).toBe(true);
    expect(await agent.err(Request.READDIR, [{ str: "missing" }])).toBe("ENOENT");
    expect(await agent.err(Request.READDIR, [{ str: "d/file" }])).toBe("ENOTDIR");
  });
});

describe("agent MKDIR, RENAME, PING", () => {
  it("makes one directory with 0777 less the umask; EEXIST and ENOENT as mkdir(2)", async () => {
    await agent.ok(Request.MKDIR, [{ str: "one" }, { u32: 0 }]);
    expect(statSync(at("one")).mode & 0o7777).toBe(0o777 & ~umask);
    expect(await agent.err(Request.MKDIR, [{ str: "one" }, { u32: 0 }])).toBe("EEXIST");
    writeFileSync(at("file"), "");
    expect(await agent.err(Request.MKDIR, [{ str: "file" }, { u32: 0 }])).toBe("EEXIST");
    expect(await agent.err(Request.MKDIR, [{ str: "no/such" }, { u32: 0 }])).toBe("ENOENT");
  });

  it("makes parents with the recursive bit; existing directories are fine, files are not", async () => {
    await agent.ok(Request.MKDIR, [{ str: "x/y/z/" }, { u32: 1 }]);
    expect(statSync(at("x/y/z")).isDirectory()).toBe(true);
    await agent.ok(Request.MKDIR, [{ str: "x/y" }, { u32: 1 }]);
    symlinkSync("x", at("to-x"));
    await agent.ok(Request.MKDIR, [{ str: "to-x/y/w" }, { u32: 1 }]);
    writeFileSync(at("x/file"), "");
    expect(await agent.err(Request.MKDIR, [{ str: "x/file" }, { u32: 1 }])).toBe("EEXIST");
    expect(await agent.err(Request.MKDIR, [{ str: "x/file/deeper" }, { u32: 1 }])).toBe("ENOTDIR");
  });

  it("renames over an existing file; ENOENT for a missing source", async () => {
    writeFileSync(at("a"), "a");
    writeFileSync(at("b"), "b");
    await agent.ok(Request.RENAME, [{ str: "a" }, { str: "b" }]);
    expect(readFileSync(at("b"), "utf8")).toBe("a");
    expect(await agent.err(Request.RENAME, [{ str: "a" }, { str: "c" }])).toBe("ENOENT");
  });

  it("echoes PING, up to a full 1 MiB payload", async () => {
    const payload = randomBytes(1024 * 1024);
    expect((await agent.ok(Request.PING, [{ bytes: payload }])).equals(payload)).toBe(true);
    expect((await agent.ok(Request.PING, [])).length).toBe(0);
  });
});

describe("agent RM", () => {
  it("removes a file, and a final link rather than what it points to", async () => {
    writeFileSync(at("file"), "");
    mkdirSync(at("dir"));
    writeFileSync(at("dir/inside"), "");
    symlinkSync("dir", at("link"));
    expect(await errnoOf(rm("file", 0))).toBe("OK");
    expect(await errnoOf(rm("link", 1))).toBe("OK");
    expect(readdirSync(at("dir"))).toEqual(["inside"]);
    // Named with a trailing slash (bit 2): the directory the link points to.
    symlinkSync("dir", at("link2"));
    expect(await errnoOf(rm("link2/", 1 | 4))).toBe("OK");
    expect(() => lstatSync(at("dir"))).toThrow();
    expect(lstatSync(at("link2")).isSymbolicLink()).toBe(true);
  });

  it("answers EISDIR without the recursive bit, ENOENT for a missing target (nothing with force)", async () => {
    mkdirSync(at("dir"));
    expect(await errnoOf(rm("dir", 0))).toBe("EISDIR");
    expect(await errnoOf(rm("missing", 0))).toBe("ENOENT");
    expect(await errnoOf(rm("missing", 2))).toBe("OK");
    expect(await errnoOf(rm("no/such/thing", 2))).toBe("OK");
    expect(await errnoOf(rm("no/such/thing", 0))).toBe("ENOENT");
    expect(await errnoOf(rm("", 0))).toBe("ENOENT");
  });

  it("removes a tree without following links inside it", async () => {
    const outside = mkdtempSync(join(tmpdir(), "agent-outside-"));
    try {
      writeFileSync(join(outside, "precious"), "keep");
      mkdirSync(at("tree/a/b"), { recursive: true });
      writeFileSync(at("tree/a/b/f"), "");
      symlinkSync(outside, at("tree/a/out"));
      symlinkSync(join(outside, "precious"), at("tree/file-link"));
      expect(await errnoOf(rm("tree", 1))).toBe("OK");
      expect(() => lstatSync(at("tree"))).toThrow();
      expect(readFileSync(join(outside, "precious"), "utf8")).toBe("keep");
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it("refuses /, home and realpath(home) however they are named", async () => {
    writeFileSync(at("keep"), "");
    mkdirSync(at("sub"));
    symlinkSync(home, at("sub/home-link"));
    for (const path of [
      "/",
      "/.",
      "/..",
      "//",
      home,
      `${home}/`,
      ".",
      "./",
      "sub/..",
      "sub/home-link/",
      "sub/../.",
    ]) {
      expect(await errnoOf(rm(path, 1 | 2 | (path.endsWith("/") ? 4 : 0))), path).toBe("EREFUSED");
    }
    // home given as a link: its realpath is refused too.
    symlinkSync(home, `${home}-link`);
    try {
      expect(await errnoOf(rm(home, 1, `${home}-link`))).toBe("EREFUSED");
    } finally {
      rmSync(`${home}-link`);
    }
    expect(readdirSync(home).sort()).toEqual(["keep", "sub"]);
  });
});
