import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildKillCommand, buildRemoteCommand } from "../ssh/remote-command.js";
import { AGENT_SOURCE, processesWithTag, TestAgent } from "./agent-test-client.js";
import { encodeFrame, Reply, Request } from "./protocol.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check` holds, up to `timeoutMs`. */
async function eventually(check: () => boolean, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(50);
  }
  return check();
}

let home: string;
let agents: TestAgent[];

function start(env?: NodeJS.ProcessEnv): TestAgent {
  const agent = new TestAgent({ cwd: home, env });
  agents.push(agent);
  return agent;
}

const uniqueTag = () => `exedev-agent-test-${randomBytes(6).toString("hex")}`;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "agent-exec-"));
  agents = [];
});

afterEach(() => {
  for (const agent of agents) agent.kill();
  // The agent writes on stderr only about its own bugs (warnings, internal errors).
  for (const agent of agents) expect(agent.stderr).toBe("");
  rmSync(home, { recursive: true, force: true });
});

describe("agent EXEC", () => {
  it("runs $SHELL -c line as a session leader with argv0 the shell's base name", async () => {
    const agent = start();
    const r = await agent.exec(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
      'read -r s </proc/$$/stat; s=${s##*") "}; set -- $s; echo "pid=$$ pgid=$3 sid=$4"; tr "\\0" " " </proc/$$/cmdline; echo',
    );
    expect(r.kind).toBe(0);
    expect(r.value).toBe(0);
    const match = /pid=(\d+) pgid=(\d+) sid=(\d+)/.exec(r.stdout);
    expect(match).not.toBeNull();
    expect(match?.[2]).toBe(match?.[1]);
    expect(match?.[3]).toBe(match?.[1]);
    expect(r.stdout.split("\n")[1]).toMatch(/^bash -c /);
  });

  it("uses /bin/sh when SHELL is unset, and says which shell in HELLO", async () => {
    const agent = start({ HOME: home, PATH: process.env.PATH });
    expect((await agent.hello).shell).toBe("/bin/sh");
    const r = await agent.exec('tr "\\0" " " </proc/$$/cmdline');
    expect(r.stdout).toMatch(/^sh -c /);
  });

  it("hands on the environment with EXEDEV_RUN, undoing only _ and a SHLVL of 0", async () => {
    const agent = start({
      HOME: home,
      SHELL: "/bin/bash",
      PATH: process.env.PATH,
      _: "/usr/bin/perl",
      SHLVL: "3",
      KEEP_ME: "value with spaces",
    });
    // The shell's own initial environment, before it changes anything.
    const r = await agent.exec('tr "\\0" "\\n" </proc/$$/environ', { tag: "the-tag" });
    const env = r.stdout.split("\n").filter(Boolean).sort();
    expect(env).toEqual(
      [
        `HOME=${home}`,
        "SHELL=/bin/bash",
        `PATH=${process.env.PATH}`,
        "SHLVL=3",
        "KEEP_ME=value with spaces",
        "EXEDEV_RUN=the-tag",
      ].sort(),
    );
    // `bash -c 'exec perl'` hands perl SHLVL=0 where sshd set none: that one is removed.
    const zero = start({ HOME: home, SHELL: "/bin/bash", PATH: process.env.PATH, SHLVL: "0" });
    const r0 = await zero.exec('tr "\\0" "\\n" </proc/$$/environ');
    expect(r0.stdout).not.toMatch(/^SHLVL=/m);
  });

  it("runs in the agent's working directory with its umask", async () => {
    const agent = start();
    const r = await agent.exec("pwd; umask");
    expect(r.stdout).toBe(`${home}\n${(process.umask() & 0o777).toString(8).padStart(4, "0")}\n`);
  });

  it("gives default signal dispositions, an empty signal mask and only fds 0 1 2", async () => {
    // Started with signals ignored and a descriptor open, as a careless parent might leave them.
    const agent = new TestAgent({
      cwd: home,
      command: ["sh", "-c", 'trap "" INT QUIT USR1; exec perl -e "$0" 7</dev/null', AGENT_SOURCE],
    });
    agents.push(agent);
    // bash itself blocks and ignores signals around pipelines: look at what it was given, through
    // a program it execs, and at the fds a background child inherits before any pipeline.
    const signals = await agent.exec('exec grep -E "^Sig(Ign|Blk):" /proc/self/status');
    expect(signals.stdout).toBe("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    const fds = await agent.exec('sleep 5 & p=$!; ls /proc/$p/fd | sort -n | tr "\\n" " "; kill $p');
    expect(fds.stdout.trim()).toBe("0 1 2");
  });

  it("gives stdin from /dev/null without bit 0 and a pipe with it", async () => {
    const agent = start();
    const none = await agent.exec("readlink /proc/$$/fd/0; cat");
    expect(none.stdout).toBe("/dev/null\n");
    const input = Buffer.concat([randomBytes(3 * 1024 * 1024), Buffer.from("end\n")]);
    const piped = await agent.exec("sha256sum", { stdin: input });
    const { createHash } = await import("node:crypto");
    expect(piped.stdout.split(" ")[0]).toBe(createHash("sha256").update(input).digest("hex"));
  });

  it("streams input in pieces and closes stdin on the empty INPUT", async () => {
    const agent = start();
    const { id, result } = agent.startExec("while read -r l; do echo got:$l; done; echo done", {
      keepStdinOpen: true,
    });
    const seen: string[] = [];
    agent.listen(id, (frame) => {
      if (frame.type === Reply.STDOUT) seen.push(frame.payload.toString());
    });
    agent.send(Request.INPUT, id, [{ bytes: Buffer.from("a\n") }]);
    expect(await eventually(() => seen.join("").includes("got:a"))).toBe(true);
    agent.send(Request.INPUT, id, [{ bytes: Buffer.from("b\n") }]);
    agent.send(Request.INPUT, id, []);
    const r = await result;
    expect(r.stdout).toBe("got:a\ngot:b\ndone\n");
  });

  it("reports exit codes and signals, and keeps stdout and stderr apart", async () => {
    const agent = start();
    const [a, b, c] = await Promise.all([
      agent.exec("echo out; echo err >&2; exit 3"),
      agent.exec("kill -TERM $$"),
      agent.exec("kill -KILL $$"),
    ]);
    expect([a.kind, a.value, a.stdout, a.stderr]).toEqual([0, 3, "out\n", "err\n"]);
    expect([b.kind, b.value]).toEqual([1, 15]);
    expect([c.kind, c.value]).toEqual([1, 9]);
  });

  it("sends EXIT only when a background child that holds stdout closed it", async () => {
    const agent = start();
    const started = performance.now();
    const r = await agent.exec("(sleep 1; echo late) & echo early");
    expect(r.stdout).toBe("early\nlate\n");
    expect(r.atMs - started).toBeGreaterThanOrEqual(900);
  });

  it("runs buildRemoteCommand's line as the channel transport does", async () => {
    const agent = start();
    const r = await agent.exec(buildRemoteCommand("echo $FOO; pwd", "/tmp", { FOO: "bar" }, "tag-x"));
    expect(r.stdout).toBe("bar\n/tmp\n");
    expect(r.stderr).toMatch(/^\x1eEXEDEV_PID=\d+:\d+\x1e$/);
    expect(r.value).toBe(0);
  });

  it("answers ERR EPROTO for a NUL in the command, and the agent carries on", async () => {
    const agent = start();
    const { last } = await agent.request(Request.EXEC, [
      { str: "echo a\0b" },
      { str: "t" },
      { str: "" },
      { u32: 0 },
    ]);
    expect(last.type).toBe(Reply.ERR);
    expect((await agent.exec("echo ok")).stdout).toBe("ok\n");
  });
});

describe("agent KILL", () => {
  it("kills the group and a grandchild that escaped with setsid, by the kill script", async () => {
    const agent = start();
    const tag = uniqueTag();
    const line = buildRemoteCommand(
      "setsid sh -c 'sleep 300' & sleep 300 & echo ready; wait",
      undefined,
      undefined,
      tag,
    );
    const { id, result } = agent.startExec(line, { tag, killScript: buildKillCommand([{ tag }]) });
    let ready = false;
    agent.listen(id, (frame) => {
      if (frame.type === Reply.STDOUT && frame.payload.includes("ready")) ready = true;
    });
    expect(await eventually(() => ready)).toBe(true);
    expect(await eventually(() => processesWithTag(tag).length >= 3)).toBe(true);
    const killedAt = performance.now();
    agent.send(Request.KILL, id);
    const r = await result;
    expect([r.kind, r.value]).toEqual([1, 9]);
    expect(r.atMs - killedAt).toBeLessThan(5_000);
    await sleep(1_000);
    expect(processesWithTag(tag)).toEqual([]);
  });

  it("kills the group at once when there is no kill script", async () => {
    const agent = start();
    const tag = uniqueTag();
    const { id, result } = agent.startExec("sleep 300 & sleep 300", { tag });
    expect(await eventually(() => processesWithTag(tag).length >= 2)).toBe(true);
    agent.send(Request.KILL, id);
    const r = await result;
    expect([r.kind, r.value]).toEqual([1, 9]);
    expect(await eventually(() => processesWithTag(tag).length === 0, 2_000)).toBe(true);
  });

  it("kills a command whose KILL comes right behind its EXEC (before the child's setsid)", async () => {
    const agent = start();
    const tag = uniqueTag();
    const frames: Buffer[] = [];
    const results = Array.from({ length: 40 }, () => {
      const id = agent.id();
      const result = agent.wait(id);
      frames.push(
        encodeFrame(Request.EXEC, id, [
          { str: "echo ran; sleep 300" },
          { str: tag },
          { str: "" },
          { u32: 0 },
        ]),
        encodeFrame(Request.KILL, id),
      );
      return result;
    });
    agent.write(Buffer.concat(frames));
    const answers = await Promise.all(results);
    for (const { last } of answers) {
      expect([last.type, last.payload.readUInt32BE(0), last.payload.readUInt32BE(4)]).toEqual([
        Reply.EXIT,
        1,
        9,
      ]);
    }
    await sleep(500);
    expect(processesWithTag(tag)).toEqual([]);
  });

  it("ignores KILL and INPUT for ids not in flight", async () => {
    const agent = start();
    agent.send(Request.KILL, 4242);
    agent.send(Request.INPUT, 4243, [{ bytes: Buffer.from("x") }]);
    expect((await agent.exec("echo still")).stdout).toBe("still\n");
    expect(agent.stray).toEqual([]);
  });
});

describe("agent concurrency", () => {
  it("runs 1000 concurrent EXECs, each with its own output", async () => {
    const agent = start();
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => agent.exec(`echo ${i}; echo e${i} >&2; exit $((${i} % 7))`)),
    );
    results.forEach((r, i) => {
      expect([r.stdout, r.stderr, r.kind, r.value]).toEqual([`${i}\n`, `e${i}\n`, 0, i % 7]);
    });
  }, 120_000);

  it("runs at most 128 at once; the rest wait in order, and KILL drops a waiting one", async () => {
    const agent = start();
    const tag = uniqueTag();
    const started = new Set<number>();
    const execs = Array.from({ length: 131 }, (_, i) => {
      const exec = agent.startExec(`echo started; exec sleep 300`, { tag });
      agent.listen(exec.id, (frame) => {
        if (frame.type === Reply.STDOUT) started.add(i);
      });
      return exec;
    });
    expect(await eventually(() => started.size >= 128, 60_000)).toBe(true);
    await sleep(1_000);
    expect(started.size).toBe(128);
    expect([...started].every((i) => i < 128)).toBe(true);
    // A waiting one is dropped: EXIT signal 9 without ever running.
    const dropped = execs[130]!;
    agent.send(Request.KILL, dropped.id);
    expect(await dropped.result).toMatchObject({ kind: 1, value: 9, stdout: "" });
    // A running one ends: the next in order (128) starts, 129 still waits.
    agent.send(Request.KILL, execs[5]!.id);
    expect(await execs[5]!.result).toMatchObject({ kind: 1, value: 9 });
    expect(await eventually(() => started.has(128))).toBe(true);
    await sleep(500);
    expect(started.has(129)).toBe(false);
    expect(await agent.close()).toEqual({ code: 0, signal: null });
    await sleep(500);
    expect(processesWithTag(tag)).toEqual([]);
  }, 120_000);
});

describe("agent end of input", () => {
  for (const how of ["end of input", "SIGTERM", "SIGHUP"] as const) {
    it(`kills every command, escaped grandchildren too, and exits 0 (${how})`, async () => {
      const agent = start();
      const tags = [uniqueTag(), uniqueTag(), uniqueTag()];
      const readies = tags.map((tag) => {
        const line = buildRemoteCommand(
          "setsid sh -c 'sleep 300' & echo ready; sleep 300",
          undefined,
          undefined,
          tag,
        );
        const { id } = agent.startExec(line, { tag, killScript: buildKillCommand([{ tag }]) });
        let ready = false;
        agent.listen(id, (frame) => {
          if (frame.type === Reply.STDOUT && frame.payload.includes("ready")) ready = true;
        });
        return () => ready;
      });
      // A command without a kill script is killed by its group.
      const plain = uniqueTag();
      agent.startExec("sleep 300", { tag: plain });
      expect(await eventually(() => readies.every((ready) => ready()))).toBe(true);
      expect(await eventually(() => tags.every((tag) => processesWithTag(tag).length >= 2))).toBe(true);
      expect(await eventually(() => processesWithTag(plain).length === 1)).toBe(true);
      // A write in progress leaves no temp file.
      const writeId = agent.id();
      agent.send(Request.WRITE, writeId, [{ str: "partial.txt" }, { u32: 0xffffffff }]);
      agent.send(Request.INPUT, writeId, [{ bytes: Buffer.from("half") }]);
      await agent.request(Request.PING, [{ bytes: Buffer.from("sync") }]);
      const { readdirSync } = await import("node:fs");
      expect(readdirSync(home).filter((name) => name.includes("partial"))).toHaveLength(1);

      const startedAt = performance.now();
      if (how === "end of input") agent.child.stdin?.end();
      else agent.child.kill(how);
      expect(await agent.exited).toEqual({ code: 0, signal: null });
      expect(performance.now() - startedAt).toBeLessThan(10_000);
      await sleep(1_000);
      for (const tag of [...tags, plain]) expect(processesWithTag(tag)).toEqual([]);
      expect(readdirSync(home)).toEqual([]);
    }, 30_000);
  }

  it("answers FATAL for a bad length, then shuts down the same way", async () => {
    const agent = start();
    const tag = uniqueTag();
    agent.startExec("sleep 300", { tag });
    expect(await eventually(() => processesWithTag(tag).length === 1)).toBe(true);
    agent.write(Buffer.from([0, 0, 0, 2, 1, 0]));
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(agent.fatal).toHaveLength(1);
    await sleep(500);
    expect(processesWithTag(tag)).toEqual([]);
    expect(readFileSync(`/proc/${process.pid}/stat`, "utf8")).toBeTruthy();
  });
});

const unprivileged = (() => {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const ids = execFileSync("id", ["exedev-test"], { encoding: "utf8" });
    return { uid: Number(/uid=(\d+)/.exec(ids)?.[1]), gid: Number(/gid=(\d+)/.exec(ids)?.[1]) };
  } catch {
    return undefined;
  }
})();

describe.runIf(unprivileged)("agent as an unprivileged user", () => {
  it("runs, kills an escaped grandchild by its tag and cleans up at end of input", async () => {
    const user = unprivileged!;
    chownSync(home, user.uid, user.gid);
    const agent = new TestAgent({
      cwd: home,
      uid: user.uid,
      gid: user.gid,
      env: { HOME: home, SHELL: "/bin/bash", PATH: process.env.PATH },
    });
    agents.push(agent);
    expect((await agent.exec("id -u")).stdout).toBe(`${user.uid}\n`);
    const tag = uniqueTag();
    const line = buildRemoteCommand(
      "setsid sh -c 'sleep 300' & echo ready; sleep 300",
      undefined,
      undefined,
      tag,
    );
    const { id, result } = agent.startExec(line, { tag, killScript: buildKillCommand([{ tag }]) });
    expect(await eventually(() => processesWithTag(tag).length >= 2)).toBe(true);
    agent.send(Request.KILL, id);
    expect(await result).toMatchObject({ kind: 1, value: 9 });
    await sleep(1_000);
    expect(processesWithTag(tag)).toEqual([]);

    const left = uniqueTag();
    const leftLine = buildRemoteCommand("setsid sh -c 'sleep 300' & sleep 300", undefined, undefined, left);
    agent.startExec(leftLine, { tag: left, killScript: buildKillCommand([{ tag: left }]) });
    expect(await eventually(() => processesWithTag(left).length >= 2)).toBe(true);
    expect(await agent.close()).toEqual({ code: 0, signal: null });
    await sleep(1_000);
    expect(processesWithTag(left)).toEqual([]);
  }, 30_000);
});
