import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_PAYLOAD_BYTES } from "../agent/protocol.js";
import { HostReply, HostRequest } from "./host-protocol.js";
import { PROC_HOST_SOURCE } from "./proc-host-source.js";
import { processesWith, spawnFields, TestHost } from "./proc-host-test-client.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let home: string;
let marker: string;
let hosts: TestHost[];

/** A host for this test; its tag carries the test's marker, so `ps` by marker finds all it started. */
function start(env: NodeJS.ProcessEnv = {}): TestHost {
  const host = new TestHost({ home, tag: `exedev-run-${marker}`, env });
  hosts.push(host);
  return host;
}

/** A process id carrying the marker (so detached tags `exedev-proc-<id>` carry it too). */
const pid = (n: number | string) => `${marker}-${n}`;

/** Waits until `check` holds, polling; fails after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(20);
  }
}

/** Waits until nothing carrying the marker runs (2 s after the last kill at most, generously). */
async function nothingLeft(timeoutMs = 5000): Promise<void> {
  const left = () => processesWith(marker).filter((found) => !hosts.some((host) => host.child.pid === found));
  await until(() => left().length === 0, timeoutMs).catch(() => {});
  expect(left()).toEqual([]);
}

/** Pids of this test's `sleep <seconds>` processes (by argv, and the marker in their tag). */
function sleeping(seconds: number): number[] {
  return processesWith(marker).filter((found) => {
    try {
      return readFileSync(`/proc/${found}/cmdline`, "utf8") === `sleep\0${seconds}\0`;
    } catch {
      return false;
    }
  });
}

function processAlive(target: number): boolean {
  try {
    process.kill(target, 0);
  } catch {
    return false;
  }
  // A zombie is gone for our purposes.
  try {
    return !/\)\s+Z\s/.test(readFileSync(`/proc/${target}/stat`, "utf8"));
  } catch {
    return false;
  }
}

function stat22(target: number): { pgrp: number; session: number; ticks: string } {
  const text = readFileSync(`/proc/${target}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { pgrp: Number(fields[2]), session: Number(fields[3]), ticks: fields[19] as string };
}

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "proc-host-"));
  marker = `m${randomBytes(6).toString("hex")}`;
  hosts = [];
});

afterEach(async () => {
  for (const host of hosts) host.kill();
  for (const found of processesWith(marker)) {
    try {
      process.kill(found, "SIGKILL");
    } catch {}
  }
  for (const host of hosts) expect(host.stderr).toBe("");
  rmSync(home, { recursive: true, force: true });
});

describe("proc-host.pl source", () => {
  it("uses only modules of perl-base, compiles, and is small", () => {
    const used = [...PROC_HOST_SOURCE.matchAll(/^\s*(?:use|require)\s+([A-Z][\w:]*)/gm)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
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
        : ["POSIX", "Fcntl", "Errno"];
    for (const module of used) expect(perlBase, module).toContain(module);
    const check = spawnSync("perl", ["-c", "-e", PROC_HOST_SOURCE], { encoding: "utf8" });
    expect(check.stderr.trim()).toBe("-e syntax OK");
    // Sent over the connection at every host start (through the bootstrap on Dropbear).
    expect(Buffer.byteLength(PROC_HOST_SOURCE)).toBeLessThan(48 * 1024);
  });
});

describe("proc-host.pl", () => {
  it("says HELLO with version, pid, state directory and tag, and answers PING", async () => {
    const host = start();
    const hello = await host.hello;
    expect(hello).toEqual({
      version: 1,
      pid: host.child.pid,
      stateDir: join(home, ".exedev-sandbox/processes"),
      tag: `exedev-run-${marker}`,
    });
    expect((await host.ok(HostRequest.PING, [{ bytes: Buffer.from("hi") }])).toString()).toBe("hi");
    expect(await host.close()).toEqual({ code: 0, signal: null });
  });

  it("runs when eval'd by the agent's stdin bootstrap (Dropbear's short command line)", async () => {
    const source = Buffer.from(PROC_HOST_SOURCE, "utf8");
    // The bootstrap of agent-source.ts, with this source's length.
    const bootstrap = `my ($n, $s) = (${source.length}, ""); while (length($s) < $n) { sysread(STDIN, $s, $n - length($s), length($s)) or exit 97 } eval $s; die $@ if $@; exit 0`;
    const host = new TestHost({
      home,
      tag: `exedev-run-${marker}`,
      command: ["perl", "-e", bootstrap],
      preamble: source,
    });
    hosts.push(host);
    expect((await host.hello).version).toBe(1);
    await host.spawn(pid(1), "echo booted");
    expect((await host.follow(pid(1))).stdout).toBe("booted\n");
    expect(await host.close()).toEqual({ code: 0, signal: null });
  });

  it("spawns a real process leading its own group, with its tag, not a child of the host", async () => {
    const host = start();
    await host.hello;
    // exec: the pid is then sleep itself, whose signal mask no fork of a shell changes meanwhile.
    const started = await host.spawn(pid(1), `exec sleep 30 # ${marker}`);
    const before = Date.now();
    expect(Math.abs(started.startedAtMs - before)).toBeLessThan(5000);
    const { pgrp, session } = stat22(started.pid);
    expect(pgrp).toBe(started.pid);
    expect(session).toBe(started.pid);
    const environ = readFileSync(`/proc/${started.pid}/environ`);
    expect(environ.includes(Buffer.from(`\0EXEDEV_RUN=exedev-run-${marker}.${pid(1)}\0`))).toBe(true);
    // Its parent is the keeper, which is not the host's child and leads a session of its own.
    const keeper = Number(readFileSync(`/proc/${started.pid}/stat`, "utf8").split(") ")[1]?.split(" ")[1]);
    expect(readFileSync(`/proc/${keeper}/cmdline`, "utf8").split("\0")[0]).toBe(`exedev-keeper ${pid(1)}`);
    const keeperStat = readFileSync(`/proc/${keeper}/stat`, "utf8");
    expect(keeperStat.split(") ")[1]?.split(" ")[1]).not.toBe(String(host.child.pid));
    expect(stat22(keeper).session).toBe(keeper);
    // fds 0-2 only, no signal ignored or blocked.
    expect(readdirSync(`/proc/${started.pid}/fd`).sort()).toEqual(["0", "1", "2"]);
    const status = readFileSync(`/proc/${started.pid}/status`, "utf8");
    expect(/SigBlk:\s*(\w+)/.exec(status)?.[1]).toBe("0000000000000000");
    expect(/SigIgn:\s*(\w+)/.exec(status)?.[1]).toBe("0000000000000000");
    await host.ok(HostRequest.SIGNAL, [{ str: pid(1) }, { u32: 9 }]);
    await nothingLeft();
  });

  it("spawns fast: SPAWN to the first OUT frame", async () => {
    const host = start();
    await host.hello;
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const began = performance.now();
      await host.spawn(pid(i), "echo hi");
      let first = 0;
      const follow = host.startFollow(pid(i), 0, 0, (frame) => {
        if (frame.type === HostReply.OUT && first === 0) first = performance.now();
      });
      await follow.result;
      times.push(first - began);
    }
    times.sort((a, b) => a - b);
    console.log(`spawn to first output ms: median ${times[5]?.toFixed(1)} max ${times[9]?.toFixed(1)}`);
    expect(times[5]).toBeLessThan(1000);
  });

  it("holds a FOLLOW sent right behind its SPAWN until the keeper reports, then streams it", async () => {
    const host = start();
    await host.hello;
    const runs = Array.from({ length: 20 }, (_, i) => {
      const spawned = host.spawn(pid(i), `printf 'out ${i}'; printf 'err ${i}' >&2; exit ${i}`);
      // Sent before the STARTED can have come back: the host has not answered the SPAWN yet.
      return { spawned, follow: host.follow(pid(i)) };
    });
    for (const [i, run] of runs.entries()) {
      await run.spawned;
      const result = await run.follow;
      expect([result.stdout, result.stderr, result.exit?.kind, result.exit?.value]).toEqual([
        `out ${i}`,
        `err ${i}`,
        0,
        i,
      ]);
    }
    await nothingLeft();
  });

  it("follows stdout and stderr with their offsets, then EXITED with the code", async () => {
    const host = start();
    await host.hello;
    await host.spawn(pid(1), "printf abc; printf XY >&2; sleep 0.3; printf def; printf Z >&2; exit 7");
    const result = await host.follow(pid(1));
    expect(result.info?.command).toBe(
      "printf abc; printf XY >&2; sleep 0.3; printf def; printf Z >&2; exit 7",
    );
    expect(result.info?.flags).toBe(0);
    expect(result.stdout).toBe("abcdef");
    expect(result.stderr).toBe("XYZ");
    // Each frame's offset is where the previous one ended: nothing lost.
    let at = 0;
    for (const part of result.out) {
      expect(part.offset).toBe(at);
      at += part.data.length;
    }
    expect(result.exit).toMatchObject({ kind: 0, value: 7, timedOut: false });
    // From an offset: only what follows it.
    const later = await host.follow(pid(1), 4, 1);
    expect(later.stdout).toBe("ef");
    expect(later.stderr).toBe("YZ");
    expect(later.out[0]?.offset).toBe(4);
    expect(later.info?.flags).toBe(2);
    expect(await host.err(HostRequest.FOLLOW, [{ str: pid("nope") }, { u64: 0 }, { u64: 0 }])).toBe("ENOENT");
    await nothingLeft();
  });

  it("reports a signal death and a missing shell program as exits", async () => {
    const host = start();
    await host.hello;
    await host.spawn(pid(1), "kill -TERM $$");
    expect((await host.follow(pid(1))).exit).toMatchObject({ kind: 1, value: 15 });
    await host.spawn(pid(2), `no-such-program-${marker}`);
    const missing = await host.follow(pid(2));
    expect(missing.exit).toMatchObject({ kind: 0, value: 127 });
    expect(missing.stderr).toContain("not found");
  });

  it("keeps a detached process through the host's end, and a new host finds it with its output", async () => {
    const first = start();
    await first.hello;
    const line = `echo one; sleep 1; echo two >&2; echo three; sleep 30 # ${marker}`;
    const started = await first.spawn(pid(1), line, { detached: true, command: "the command" });
    const environ = readFileSync(`/proc/${started.pid}/environ`);
    expect(environ.includes(Buffer.from(`\0EXEDEV_RUN=exedev-proc-${pid(1)}\0`))).toBe(true);
    // The host's own tag is nowhere in the detached process's keeper or command.
    expect(environ.includes(Buffer.from(`EXEDEV_RUN=exedev-run-${marker}`))).toBe(false);
    expect(await first.close()).toEqual({ code: 0, signal: null });
    await sleep(1500);
    expect(processAlive(started.pid)).toBe(true);
    const second = start();
    await second.hello;
    const entries = await second.list();
    expect(entries).toEqual([
      {
        id: pid(1),
        pid: started.pid,
        flags: 1,
        kind: 0,
        value: 0,
        startedAtMs: started.startedAtMs,
        endedAtMs: 0,
        command: "the command",
      },
    ]);
    const frames: number[] = [];
    const follow = second.startFollow(pid(1), 0, 0, (frame) => frames.push(frame.type));
    await until(
      () => frames.filter((type) => type === HostReply.OUT).length >= 1 && frames.includes(HostReply.ERROUT),
    );
    await second.ok(HostRequest.SIGNAL, [{ str: pid(1) }, { u32: 9 }]);
    const result = await follow.result;
    expect(result.info).toMatchObject({ pid: started.pid, flags: 1, command: "the command" });
    expect(result.stdout).toBe("one\nthree\n");
    expect(result.stderr).toBe("two\n");
    expect(result.exit).toMatchObject({ kind: 1, value: 9, timedOut: false });
    const ended = await second.list();
    expect(ended[0]).toMatchObject({ id: pid(1), flags: 1 | 2, kind: 1, value: 9 });
    expect(ended[0]?.endedAtMs).toBeGreaterThanOrEqual(started.startedAtMs);
    await nothingLeft();
  });

  for (const how of ["end of input", "SIGTERM", "SIGHUP"] as const) {
    it(`kills non-detached processes and what they forked out of the group at ${how}`, async () => {
      const host = start();
      await host.hello;
      // The second one starts an escapee in a session of its own that keeps nothing of the group.
      await host.spawn(pid(1), `sleep 31 # ${marker}`);
      await host.spawn(
        pid(2),
        `setsid sh -c 'sleep 32 # ${marker}' </dev/null >/dev/null 2>&1 & sleep 33 # ${marker}`,
      );
      await host.spawn(pid(3), `sleep 34 # ${marker}`, { detached: true });
      await until(() => sleeping(32).length === 1);
      const escapee = sleeping(32)[0] as number;
      expect(stat22(escapee).session).not.toBe(stat22(sleeping(33)[0] as number).session);
      const stop = Date.now();
      if (how === "end of input") host.child.stdin?.end();
      else host.child.kill(how);
      expect(await host.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - stop).toBeLessThan(3000);
      await until(() => [31, 32, 33].every((seconds) => sleeping(seconds).length === 0), 3000);
      await sleep(300);
      const left = processesWith(marker).filter(processAlive);
      expect(processAlive(escapee)).toBe(false);
      // Only the detached one (its shell or the sleep it became) and its keeper carry the marker.
      for (const found of left) {
        const cmdline = readFileSync(`/proc/${found}/cmdline`, "utf8").replaceAll("\0", " ");
        expect(cmdline.includes("sleep 34") || cmdline.startsWith(`exedev-keeper ${pid(3)}`), cmdline).toBe(
          true,
        );
      }
      expect(left.length).toBeGreaterThan(0);
      // The keepers recorded the kills.
      const next = start();
      await next.hello;
      const entries = await next.list();
      expect(entries.map((entry) => [entry.id, entry.flags, entry.kind, entry.value])).toEqual([
        [pid(1), 2, 1, 9],
        [pid(2), 2, 1, 9],
        [pid(3), 1, 0, 0],
      ]);
      await next.ok(HostRequest.SIGNAL, [{ str: pid(3) }, { u32: 9 }]);
      await nothingLeft();
    });
  }

  it("passes INPUT to stdin and ends it at CLOSE_STDIN (cat)", async () => {
    const host = start();
    await host.hello;
    await host.spawn(pid(1), "cat; echo done");
    const follow = host.startFollow(pid(1));
    await host.ok(HostRequest.INPUT, [{ str: pid(1) }, { bytes: Buffer.from("hello ") }]);
    await host.ok(HostRequest.INPUT, [{ str: pid(1) }, { bytes: Buffer.alloc(0) }]);
    // More than a FIFO holds (64 KiB): the host queues and writes as cat reads.
    const big = Buffer.alloc(300 * 1024, "x");
    const sends = [
      host.ok(HostRequest.INPUT, [{ str: pid(1) }, { bytes: big }]),
      host.ok(HostRequest.INPUT, [{ str: pid(1) }, { bytes: Buffer.from("world\n") }]),
      host.ok(HostRequest.CLOSE_STDIN, [{ str: pid(1) }]),
    ];
    await Promise.all(sends);
    expect(await host.err(HostRequest.INPUT, [{ str: pid(1) }, { bytes: Buffer.from("late") }])).toBe(
      "EPIPE",
    );
    await host.ok(HostRequest.CLOSE_STDIN, [{ str: pid(1) }]);
    const result = await follow.result;
    expect(result.stdout).toBe(`hello ${big.toString()}world\ndone\n`);
    expect(result.exit).toMatchObject({ kind: 0, value: 0 });
    expect(await host.err(HostRequest.INPUT, [{ str: pid(1) }, { bytes: Buffer.from("x") }])).toBe("EPIPE");
    expect(await host.err(HostRequest.INPUT, [{ str: pid("nope") }, { bytes: Buffer.from("x") }])).toBe(
      "ENOENT",
    );
    expect(await host.err(HostRequest.CLOSE_STDIN, [{ str: pid("nope") }])).toBe("ENOENT");
  });

  it("echoes input back fast (interactive)", async () => {
    const host = start();
    await host.hello;
    await host.spawn(pid(1), "cat");
    let seen = "";
    let onOutput = () => {};
    const follow = host.startFollow(pid(1), 0, 0, (frame) => {
      if (frame.type !== HostReply.OUT) return;
      seen += frame.payload.subarray(8).toString();
      onOutput();
    });
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      // Idle long enough for the FOLLOW to back off to its slowest poll.
      await sleep(100);
      const sent = performance.now();
      const echoed = new Promise<void>((resolve) => {
        onOutput = () => seen.includes(`k${i}`) && resolve();
      });
      host.send(HostRequest.INPUT, host.id(), [{ str: pid(1) }, { bytes: Buffer.from(`k${i}`) }]);
      await echoed;
      times.push(performance.now() - sent);
    }
    times.sort((a, b) => a - b);
    // The poll starts fast again after an INPUT: an echo takes a few ms, not the idle interval.
    console.log(`input echo ms: median ${times[5]?.toFixed(1)} max ${times[9]?.toFixed(1)}`);
    expect(times[5]).toBeLessThan(250);
    await host.ok(HostRequest.CLOSE_STDIN, [{ str: pid(1) }]);
    expect((await follow.result).exit).toMatchObject({ kind: 0, value: 0 });
  });

  it("SIGNAL sends SIGTERM to the group, and SIGKILL kills a double-forked escapee by its tag", async () => {
    const host = start();
    await host.hello;
    await host.spawn(pid(1), `trap 'echo term; exit 3' TERM; sleep 35 & wait`);
    await sleep(200);
    await host.ok(HostRequest.SIGNAL, [{ str: pid(1) }, { u32: 15 }]);
    const termed = await host.follow(pid(1));
    expect(termed.stdout).toBe("term\n");
    expect(termed.exit).toMatchObject({ kind: 0, value: 3 });
    // A group whose shell has gone but whose background job still holds the output is signalled.
    await host.spawn(pid(3), `sleep 43 & echo started; exit 0`);
    await until(() => sleeping(43).length === 1);
    await host.ok(HostRequest.SIGNAL, [{ str: pid(3) }, { u32: 15 }]);
    expect((await host.follow(pid(3))).exit).toMatchObject({ kind: 0, value: 0 });
    expect(sleeping(43)).toEqual([]);
    // Signalling an ended process is fine and does nothing.
    await host.ok(HostRequest.SIGNAL, [{ str: pid(1) }, { u32: 15 }]);
    expect(await host.err(HostRequest.SIGNAL, [{ str: pid(1) }, { u32: 0 }])).toBe("EINVAL");
    expect(await host.err(HostRequest.SIGNAL, [{ str: pid(1) }, { u32: 65 }])).toBe("EINVAL");
    expect(await host.err(HostRequest.SIGNAL, [{ str: pid("nope") }, { u32: 9 }])).toBe("ENOENT");

    await host.spawn(
      pid(2),
      `(setsid sh -c 'sleep 36 # ${marker}' </dev/null >/dev/null 2>&1 &); sleep 37 # ${marker}`,
      {
        detached: true,
      },
    );
    await until(() => sleeping(36).length === 1);
    const escapee = sleeping(36)[0] as number;
    expect(stat22(escapee).session).not.toBe(stat22(sleeping(37)[0] as number).session);
    await host.ok(HostRequest.SIGNAL, [{ str: pid(2) }, { u32: 9 }]);
    expect((await host.follow(pid(2))).exit).toMatchObject({ kind: 1, value: 9 });
    await until(() => !processAlive(escapee), 3000);
    await nothingLeft();
  });

  it("enforces timeoutMs in the keeper after the host has gone", async () => {
    const host = start();
    await host.hello;
    const line = `(setsid sh -c 'sleep 38 # ${marker}' </dev/null >/dev/null 2>&1 &); echo begun; sleep 39 # ${marker}`;
    const started = await host.spawn(pid(1), line, { detached: true, timeoutMs: 1500 });
    await host.close();
    await sleep(500);
    expect(sleeping(38).length).toBe(1);
    const next = start();
    await next.hello;
    const result = await next.follow(pid(1));
    expect(result.stdout).toBe("begun\n");
    expect(result.exit).toMatchObject({ kind: 0, value: 124, timedOut: true });
    const took = (result.exit?.endedAtMs ?? 0) - started.startedAtMs;
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(1500 + 2000);
    expect((await next.list())[0]).toMatchObject({ flags: 1 | 2 | 4, kind: 0, value: 124 });
    await nothingLeft();
  });

  it("bounds the logs to two 1 MiB segments per stream; FOLLOW from 0 shows the jump", async () => {
    const host = start();
    await host.hello;
    // 5 MiB of numbered 16-byte lines on stdout, a little on stderr.
    await host.spawn(pid(1), `perl -e 'for my $i (0 .. 327679) { printf "%015d\\n", $i }'; echo tail >&2`);
    const first = await host.follow(pid(1), 1 << 30, 0);
    expect(first.exit).toMatchObject({ kind: 0, value: 0 });
    const dir = join(home, ".exedev-sandbox/processes", pid(1));
    const files = readdirSync(dir).sort();
    expect(files).toEqual(["command", "err-0", "exit", "info", "out-3145728", "out-4194304"]);
    const onDisk = files
      .filter((name) => name.startsWith("out-"))
      .map((name) => statSync(join(dir, name)).size);
    expect(onDisk).toEqual([1 << 20, 1 << 20]);
    const result = await host.follow(pid(1));
    expect(result.out[0]?.offset).toBe(3 << 20);
    let at = 3 << 20;
    for (const part of result.out) {
      expect(part.offset).toBe(at);
      at += part.data.length;
    }
    expect(at).toBe(5 << 20);
    const text = result.stdout;
    expect(text.length).toBe(2 << 20);
    // The kept bytes are the last 2 MiB exactly: line 196608 onwards.
    expect(text.slice(0, 16)).toBe("000000000196608\n");
    expect(text.slice(-16)).toBe("000000000327679\n");
    expect(result.stderr).toBe("tail\n");
  });

  it("keeps its state private: directories 0700, files 0600, whatever the umask", async () => {
    const host = start();
    await host.hello;
    await host.spawn(pid(1), "echo hi; umask");
    const result = await host.follow(pid(1));
    // The command gets the umask the host was started with back.
    const umask = process.umask();
    expect(result.stdout).toBe(`hi\n${umask.toString(8).padStart(4, "0")}\n`);
    await host.spawn(pid(2), "sleep 30", { detached: true });
    const root = join(home, ".exedev-sandbox");
    expect(statSync(root).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, "processes")).mode & 0o777).toBe(0o700);
    for (const id of [pid(1), pid(2)]) {
      const dir = join(root, "processes", id);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      for (const name of readdirSync(dir))
        expect([name, statSync(join(dir, name)).mode & 0o777]).toEqual([name, 0o600]);
    }
    expect(readdirSync(join(root, "processes", pid(2))).sort()).toEqual([
      "command",
      "control",
      "err-0",
      "info",
      "out-0",
      "stdin",
    ]);
    await host.ok(HostRequest.SIGNAL, [{ str: pid(2) }, { u32: 9 }]);
  });

  it.runIf(process.getuid?.() === 0)(
    "works as an unprivileged user, its state private to that user",
    async () => {
      const uid = 65534;
      chownSync(home, uid, uid);
      const host = new TestHost({ home, tag: `exedev-run-${marker}`, uid, gid: uid });
      hosts.push(host);
      await host.hello;
      const line = `(setsid sh -c 'sleep 41 # ${marker}' </dev/null >/dev/null 2>&1 &); echo $(id -u); sleep 42 # ${marker}`;
      const started = await host.spawn(pid(1), line, { detached: true });
      await until(() => sleeping(41).length === 1);
      const dir = join(home, ".exedev-sandbox/processes", pid(1));
      expect(statSync(dir).uid).toBe(uid);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, "info")).mode & 0o777).toBe(0o600);
      expect(stat22(started.pid).pgrp).toBe(started.pid);
      await host.ok(HostRequest.SIGNAL, [{ str: pid(1) }, { u32: 9 }]);
      const result = await host.follow(pid(1));
      expect(result.stdout).toBe(`${uid}\n`);
      expect(result.exit).toMatchObject({ kind: 1, value: 9 });
      await nothingLeft();
    },
  );

  it("reports a process whose keeper was SIGKILLed as ended (unknown exit)", async () => {
    const host = start();
    await host.hello;
    const started = await host.spawn(pid(1), `sleep 40 # ${marker}`, { detached: true });
    const follow = host.startFollow(pid(1));
    const keeper = Number(readFileSync(`/proc/${started.pid}/stat`, "utf8").split(") ")[1]?.split(" ")[1]);
    process.kill(keeper, "SIGKILL");
    process.kill(started.pid, "SIGKILL");
    const result = await follow.result;
    expect(result.exit).toMatchObject({ kind: 2, value: 0 });
    expect((await host.list())[0]).toMatchObject({ id: pid(1), flags: 1 | 2, kind: 2, value: 0 });
    expect(await host.err(HostRequest.INPUT, [{ str: pid(1) }, { bytes: Buffer.from("x") }])).toBe("EPIPE");
  });

  it("removes finished entries older than EXEDEV_PROC_KEEP_MS at start and on LIST", async () => {
    const host = start({ EXEDEV_PROC_KEEP_MS: "1500" });
    await host.hello;
    await host.spawn(pid(1), "true");
    await host.spawn(pid(2), "sleep 30", { detached: true });
    await host.follow(pid(1));
    expect((await host.list()).map((entry) => entry.id)).toEqual([pid(1), pid(2)]);
    await sleep(1800);
    expect((await host.list()).map((entry) => entry.id)).toEqual([pid(2)]);
    const dir = join(home, ".exedev-sandbox/processes");
    expect(existsSync(join(dir, pid(1)))).toBe(false);
    await host.spawn(pid(3), "true");
    await host.follow(pid(3));
    await host.close();
    await sleep(1800);
    // A new host cleans up as it starts, before any LIST.
    const next = start({ EXEDEV_PROC_KEEP_MS: "1500" });
    await next.hello;
    await next.ok(HostRequest.PING, [{ bytes: Buffer.alloc(0) }]);
    expect(readdirSync(dir)).toEqual([pid(2)]);
    // The default keeps them an hour.
    const third = start();
    await third.hello;
    await third.ok(HostRequest.SIGNAL, [{ str: pid(2) }, { u32: 9 }]);
    await third.follow(pid(2));
    await sleep(200);
    expect((await third.list()).map((entry) => entry.id)).toEqual([pid(2)]);
  });

  it("runs 200 concurrent processes with their own exit codes, and kills the rest at end of input", async () => {
    const host = start();
    await host.hello;
    const count = 200;
    const began = performance.now();
    const starts = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        host.spawn(pid(i), `trap 'exit ${i % 100}' TERM; echo out${i}; sleep 30 & wait`),
      ),
    );
    const startedMs = performance.now() - began;
    expect(new Set(starts.map((started) => started.pid)).size).toBe(count);
    const entries = await host.list();
    expect(entries.length).toBe(count);
    // All of them at once.
    expect(entries.filter((entry) => entry.flags === 0).length).toBe(count);
    const half = count / 2;
    const follows = Array.from({ length: half }, (_, i) => host.follow(pid(i)));
    await until(() => sleeping(30).length === count, 20_000);
    await Promise.all(
      Array.from({ length: half }, (_, i) => host.ok(HostRequest.SIGNAL, [{ str: pid(i) }, { u32: 15 }])),
    );
    const results = await Promise.all(follows);
    results.forEach((result, i) => {
      expect(result.stdout).toBe(`out${i}\n`);
      expect(result.exit).toMatchObject({ kind: 0, value: i % 100 });
    });
    const shutdown = performance.now();
    expect(await host.close()).toEqual({ code: 0, signal: null });
    const shutdownMs = performance.now() - shutdown;
    console.log(
      `200 spawns: all STARTED in ${startedMs.toFixed(0)} ms; host end killed 100 in ${shutdownMs.toFixed(0)} ms`,
    );
    expect(shutdownMs).toBeLessThan(10_000);
    await nothingLeft();
    const next = start();
    await next.hello;
    const after = await next.list();
    expect(
      after
        .filter((entry) => entry.kind === 1 && entry.value === 9)
        .map((entry) => entry.id)
        .sort(),
    ).toEqual(Array.from({ length: half }, (_, i) => pid(half + i)).sort());
  });

  it("stops reading logs while its stdout is full (the client does not read)", async () => {
    const host = start();
    await host.hello;
    const rss = () =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${host.child.pid}/status`, "utf8"))?.[1]) * 1024;
    const before = rss();
    host.child.stdout?.pause();
    const id = host.id();
    const answer = host.wait(id);
    host.send(HostRequest.SPAWN, id, spawnFields(pid(1), `read go; perl -e 'print "y" x (20 << 20)'`));
    // STARTED is not read either: the keeper's info file says it started.
    const dir = join(home, ".exedev-sandbox/processes", pid(1));
    await until(() => existsSync(join(dir, "info")));
    const follow = host.startFollow(pid(1));
    await sleep(100);
    host.send(HostRequest.INPUT, host.id(), [{ str: pid(1) }, { bytes: Buffer.from("go\n") }]);
    // The keeper writes all 20 MiB to its logs meanwhile.
    await until(() => existsSync(join(dir, "exit")), 20_000);
    const grown = rss() - before;
    console.log(`host RSS grew ${(grown / 1048576).toFixed(1)} MiB while its client read nothing`);
    expect(grown).toBeLessThan(5 << 20);
    host.child.stdout?.resume();
    expect((await answer).last.type).toBe(HostReply.STARTED);
    const result = await follow.result;
    expect(result.exit).toMatchObject({ kind: 0, value: 0 });
    // What the host had read before it paused (about OUT_LIMIT), then jumps forward over what
    // rotated away meanwhile; the last 2 MiB are all there.
    const end = result.out.at(-1);
    expect((end?.offset ?? 0) + (end?.data.length ?? 0)).toBe(20 << 20);
    expect(result.out[0]?.offset).toBe(0);
    let at = 0;
    let jumps = 0;
    for (const part of result.out) {
      expect(part.offset).toBeGreaterThanOrEqual(at);
      if (part.offset > at) jumps++;
      at = part.offset + part.data.length;
    }
    expect(jumps).toBeGreaterThan(0);
    const received = result.out.reduce((sum, part) => sum + part.data.length, 0);
    expect(received).toBeLessThan(5 << 20);
    const tail = result.out.filter((part) => part.offset >= 18 << 20);
    expect(tail[0]?.offset).toBe(18 << 20);
    expect(tail.reduce((sum, part) => sum + part.data.length, 0)).toBe(2 << 20);
    expect(result.stdout.replaceAll("y", "")).toBe("");
  });

  it("refuses bad requests: EPROTO, EINVAL, EEXIST, and FATAL for a bad length", async () => {
    const host = start();
    await host.hello;
    expect(await host.err(0x7e, [])).toBe("EPROTO");
    expect(await host.err(HostRequest.SPAWN, [{ str: pid(1) }])).toBe("EPROTO");
    expect(await host.err(HostRequest.LIST, [{ u32: 1 }])).toBe("EPROTO");
    expect(await host.err(HostRequest.SPAWN, spawnFields(pid(1), "echo a\0b"))).toBe("EPROTO");
    for (const bad of ["", "../x", "a/b", "a.b", "x".repeat(65), "sp ace"]) {
      expect(await host.err(HostRequest.SPAWN, spawnFields(bad, "true")), bad).toBe("EINVAL");
      expect(await host.err(HostRequest.FOLLOW, [{ str: bad }, { u64: 0 }, { u64: 0 }]), bad).toBe("EINVAL");
    }
    expect(readdirSync(join(home, ".exedev-sandbox/processes"))).toEqual([]);
    await host.spawn(pid(1), "sleep 30");
    expect(await host.err(HostRequest.SPAWN, spawnFields(pid(1), "true"))).toBe("EEXIST");
    // UNFOLLOW ends a FOLLOW with OK, and nothing follows it.
    const follow = host.startFollow(pid(1));
    host.send(HostRequest.UNFOLLOW, follow.requestId);
    const ended = await follow.result;
    expect(ended.info?.pid).toBeGreaterThan(0);
    expect(ended.exit).toBeUndefined();
    // An id in flight (a FOLLOW) is refused without disturbing it.
    const frames: number[] = [];
    const second = host.id();
    host.listen(second, (frame) => frames.push(frame.type));
    host.send(HostRequest.FOLLOW, second, [{ str: pid(1) }, { u64: 0 }, { u64: 0 }]);
    host.send(HostRequest.PING, second, [{ bytes: Buffer.from("dup") }]);
    await until(() => frames.includes(HostReply.ERR));
    await host.ok(HostRequest.SIGNAL, [{ str: pid(1) }, { u32: 9 }]);
    await until(() => frames.includes(HostReply.EXITED));
    expect(frames).toEqual([HostReply.INFO, HostReply.ERR, HostReply.EXITED]);
    // A stray UNFOLLOW is ignored.
    host.send(HostRequest.UNFOLLOW, second);
    // Still serving after all that; then a bad length is FATAL and the host ends as at EOF.
    await host.ok(HostRequest.PING, [{ bytes: Buffer.from("ok") }]);
    const bad = Buffer.alloc(9);
    bad.writeUInt32BE(MAX_PAYLOAD_BYTES + 6, 0);
    host.write(bad);
    expect(await host.exited).toEqual({ code: 0, signal: null });
    expect(host.fatal).toEqual([`bad frame length ${MAX_PAYLOAD_BYTES + 6}`]);
  });
});
