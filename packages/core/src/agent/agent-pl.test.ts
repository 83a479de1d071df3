import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AGENT_SOURCE, processesWithTag, readErr, TestAgent } from "./agent-test-client.js";
import { type Frame, MAX_PAYLOAD_BYTES, PROTOCOL_VERSION, Reply, Request } from "./protocol.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let home: string;
let agents: TestAgent[];

function start(options: Partial<ConstructorParameters<typeof TestAgent>[0]> = {}): TestAgent {
  const agent = new TestAgent({ cwd: home, ...options });
  agents.push(agent);
  return agent;
}

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "agent-pl-"));
  agents = [];
});

afterEach(() => {
  for (const agent of agents) agent.kill();
  // The agent writes on stderr only about its own bugs (warnings, internal errors).
  for (const agent of agents) expect(agent.stderr).toBe("");
  rmSync(home, { recursive: true, force: true });
});

describe("agent.pl source", () => {
  it("uses only modules of perl-base and compiles", () => {
    const used = [...AGENT_SOURCE.matchAll(/^\s*(?:use|require)\s+([A-Z][\w:]*)/gm)].map(
      (m) => m[1] as string,
    );
    expect(used.length).toBeGreaterThan(0);
    // The essential package's own file list when this machine has dpkg; else the modules known
    // to be in perl-base on every Debian and Ubuntu release.
    const dpkg = spawnSync("dpkg", ["-L", "perl-base"], { encoding: "utf8" });
    const perlBase =
      dpkg.status === 0
        ? dpkg.stdout
            .split("\n")
            .filter((path) => path.endsWith(".pm"))
            .map((path) =>
              path
                .replace(/^.*\/perl(?:-base|\/5[^/]*)\//, "")
                .replace(/\.pm$/, "")
                .replaceAll("/", "::"),
            )
        : ["POSIX", "Fcntl", "Errno", "Cwd", "IO::Handle", "File::Spec"];
    for (const module of used) expect(perlBase, module).toContain(module);
    const check = spawnSync("perl", ["-c", "-e", AGENT_SOURCE], { encoding: "utf8" });
    expect(check.stderr.trim()).toBe("-e syntax OK");
    expect(check.status).toBe(0);
  });

  it("is self-contained and small", () => {
    expect(AGENT_SOURCE).not.toMatch(/^__(END|DATA)__/m);
    const code = AGENT_SOURCE.split("\n").filter((line) => !/^\s*#/.test(line));
    expect(code.filter((line) => /\$0\b/.test(line))).toEqual([]);
    expect(Buffer.byteLength(AGENT_SOURCE)).toBeLessThan(30 * 1024);
  });
});

describe("agent start", () => {
  it("sends HELLO first: version, pid, home, shell", async () => {
    const agent = start();
    const hello = await agent.hello;
    expect(hello).toEqual({ version: PROTOCOL_VERSION, pid: agent.child.pid, home, shell: "/bin/bash" });
  });

  it("takes home from the passwd entry when HOME is unset", async () => {
    const agent = start({ env: { PATH: process.env.PATH } });
    const passwd = execFileSync("sh", ["-c", 'getent passwd "$(id -u)" | cut -d: -f6'], { encoding: "utf8" });
    expect((await agent.hello).home).toBe(passwd.trim());
  });

  it("runs when a bootstrap reads its source from stdin and evals it", async () => {
    const source = Buffer.from(AGENT_SOURCE);
    // sysread, not <STDIN>: a buffered read would swallow the first frames.
    const bootstrap = `my ($n, $s) = (${source.length}, ""); while (length($s) < $n) { sysread(STDIN, $s, $n - length($s), length($s)) or exit 1 } eval $s; die $@ if $@; exit 1`;
    const agent = start({ command: ["perl", "-e", bootstrap], preamble: source });
    expect((await agent.hello).version).toBe(PROTOCOL_VERSION);
    expect((await agent.ok(Request.PING, [{ bytes: Buffer.from("via bootstrap") }])).toString()).toBe(
      "via bootstrap",
    );
    expect((await agent.exec("echo hi")).stdout).toBe("hi\n");
    expect(await agent.close()).toEqual({ code: 0, signal: null });
  });
});

describe("agent malformed input", () => {
  const ping = async (agent: TestAgent) =>
    expect((await agent.ok(Request.PING, [{ bytes: Buffer.from("alive") }])).toString()).toBe("alive");

  it("answers ERR EPROTO for unknown types, short payloads, extra bytes and NUL in paths", async () => {
    const agent = start();
    const cases: [number, Buffer][] = [
      [0x7f, Buffer.alloc(0)],
      [Reply.OK, Buffer.alloc(0)],
      [Request.STAT, Buffer.alloc(0)],
      [Request.STAT, Buffer.from([0, 0, 0, 9, 0x61])],
      [Request.STAT, Buffer.from([0, 0, 0, 1, 0x61, 0])],
      [Request.STAT, Buffer.from([0, 0, 0, 3, 0x61, 0, 0x62])],
      [Request.READ, Buffer.from([0, 0, 0, 1, 0x61, 0, 0, 0, 0])],
      [Request.EXEC, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
      [Request.RM, Buffer.from([0, 0, 0, 1, 0x2f, 0, 0, 0, 0, 0, 0, 0])],
      [Request.MKDIR, Buffer.from([0, 0, 0, 1, 0x61, 0, 0, 0])],
      [Request.RENAME, Buffer.from([0, 0, 0, 1, 0x61, 0, 0, 0, 2, 0x62, 0])],
      [Request.WRITE, Buffer.from([0, 0, 0, 2, 0x61, 0, 0xff, 0xff, 0xff, 0xff])],
    ];
    for (const [type, payload] of cases) {
      const id = agent.id();
      const answer = agent.wait(id);
      const frame = Buffer.alloc(9 + payload.length);
      frame.writeUInt32BE(5 + payload.length, 0);
      frame.writeUInt8(type, 4);
      frame.writeUInt32BE(id, 5);
      payload.copy(frame, 9);
      agent.write(frame);
      const { last } = await answer;
      expect([type, last.type, readErr(last).errno]).toEqual([type, Reply.ERR, "EPROTO"]);
    }
    expect(existsSync(join(home, "a"))).toBe(false);
    await ping(agent);
  });

  it("answers ERR EPROTO for an id already in flight, leaving that request alone", async () => {
    const agent = start();
    const id = agent.id();
    const frames: Frame[] = [];
    agent.listen(id, (frame) => frames.push(frame));
    agent.send(Request.EXEC, id, [
      { str: "sleep 0.5; echo finished" },
      { str: "t" },
      { str: "" },
      { u32: 0 },
    ]);
    agent.send(Request.STAT, id, [{ str: "." }]);
    agent.send(Request.EXEC, id, [{ str: "echo second" }, { str: "t" }, { str: "" }, { u32: 0 }]);
    const deadline = Date.now() + 10_000;
    while (!frames.some((frame) => frame.type === Reply.EXIT) && Date.now() < deadline) await sleep(20);
    expect(frames.filter((frame) => frame.type === Reply.ERR).map((frame) => readErr(frame).errno)).toEqual([
      "EPROTO",
      "EPROTO",
    ]);
    const stdout = Buffer.concat(frames.filter((f) => f.type === Reply.STDOUT).map((f) => f.payload));
    expect(stdout.toString()).toBe("finished\n");
    expect(frames.at(-1)?.type).toBe(Reply.EXIT);
    expect(frames.at(-1)?.payload.equals(Buffer.alloc(8))).toBe(true);
  });

  for (const length of [0, 4, MAX_PAYLOAD_BYTES + 6, 0xffffffff]) {
    it(`sends FATAL for frame length ${length} and exits 0`, async () => {
      const agent = start();
      await agent.hello;
      const header = Buffer.alloc(9);
      header.writeUInt32BE(length, 0);
      agent.write(header);
      expect(await agent.exited).toEqual({ code: 0, signal: null });
      expect(agent.fatal).toHaveLength(1);
    });
  }

  it("accepts the largest frame", async () => {
    const agent = start();
    const payload = randomBytes(MAX_PAYLOAD_BYTES);
    expect((await agent.ok(Request.PING, [{ bytes: payload }])).equals(payload)).toBe(true);
  });
});

/** A small deterministic generator, so a failing fuzz run can be repeated from its seed. */
function generator(seed: number) {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  const below = (n: number) => next() % n;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => below(256)));
  return { next, below, bytes };
}

describe("agent fuzz", () => {
  it("survives thousands of random well-framed requests and still answers PING", async () => {
    // /bin/false as the shell: a random EXEC that parses runs nothing.
    const agent = start({ env: { HOME: home, SHELL: "/bin/false", PATH: process.env.PATH } });
    await agent.hello;
    const seed = Date.now() >>> 0;
    const g = generator(seed);
    const types = [...Object.values(Request), ...Object.values(Reply), 0, 0x7f, 0xff];
    // Paths stay inside the test's home: names without "/" or "." (rm and write stay there).
    const name = () =>
      Buffer.from(Array.from({ length: 1 + g.below(6) }, () => "abcxyz0\0"[g.below(8)] as string).join(""));
    const field = (): Buffer => {
      switch (g.below(5)) {
        case 0: {
          const b = Buffer.alloc(4);
          b.writeUInt32BE(g.next());
          return b;
        }
        case 1: {
          const n = name();
          const b = Buffer.alloc(4);
          b.writeUInt32BE(g.below(3) === 0 ? g.next() : n.length);
          return Buffer.concat([b, n]);
        }
        case 2:
          return Buffer.alloc(8, g.below(2) ? 0 : 0xff);
        case 3:
          return g.bytes(g.below(12));
        default:
          return Buffer.alloc(0);
      }
    };
    let sent = 0;
    for (let round = 0; round < 40; round++) {
      const frames: Buffer[] = [];
      for (let i = 0; i < 100; i++) {
        const type = types[g.below(types.length)] as number;
        let payload = Buffer.concat(Array.from({ length: g.below(5) }, field));
        if (g.below(4) === 0) payload = payload.subarray(0, g.below(payload.length + 1));
        const header = Buffer.alloc(9);
        header.writeUInt32BE(5 + payload.length, 0);
        header.writeUInt8(type, 4);
        // Few ids, so INPUT/KILL often hit requests in flight and ids collide.
        header.writeUInt32BE(1000 + g.below(50), 5);
        frames.push(header, payload);
        sent++;
      }
      agent.write(Buffer.concat(frames));
      await sleep(5);
    }
    expect(sent).toBe(4000);
    // The fuzz reached past the framing: requests ran, and bad ones were refused.
    const answers = new Set(agent.stray.map((f) => (f.type === Reply.ERR ? readErr(f).errno : f.type)));
    expect(answers.has(Reply.OK) && answers.has("EPROTO"), `seed ${seed}`).toBe(true);
    const answer = await agent.request(Request.PING, [{ bytes: Buffer.from("after fuzz") }], 1);
    expect(answer.last.payload.toString(), `seed ${seed}`).toBe("after fuzz");
    expect(agent.child.exitCode, `seed ${seed}`).toBeNull();
    expect(agent.stderr, `seed ${seed}`).not.toMatch(/internal error/);
    // Writes left open by the fuzz are removed at end of input.
    expect(await agent.close()).toEqual({ code: 0, signal: null });
    expect(readdirSync(home).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  }, 60_000);

  it("after random bytes with bad lengths sends FATAL, exits 0 and leaves no command behind", async () => {
    for (let run = 0; run < 5; run++) {
      const agent = start();
      const tag = `exedev-fuzz-${randomBytes(6).toString("hex")}`;
      agent.startExec("sleep 300", { tag });
      await agent.request(Request.PING, []);
      const g = generator((Date.now() + run) >>> 0);
      // Some well-framed random requests, then a frame with a bad length, then garbage.
      const bad = Buffer.alloc(4);
      bad.writeUInt32BE(g.below(2) ? g.below(5) : MAX_PAYLOAD_BYTES + 6 + g.below(1 << 20));
      agent.write(Buffer.concat([bad, g.bytes(g.below(64))]));
      expect(await agent.exited).toEqual({ code: 0, signal: null });
      expect(agent.fatal).toHaveLength(1);
      await sleep(300);
      expect(processesWithTag(tag)).toEqual([]);
    }
  });
});
