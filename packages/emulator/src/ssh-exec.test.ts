import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { type IncomingHttpHeaders, request } from "node:http";
import { join } from "node:path";
import { generateSshKeyPair, mintToken } from "@exedev-sandbox/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { post, sleep } from "./test-helpers.js";

/** What a raw `node:http` client saw: unlike `fetch`, it can read the trailers. */
interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: NodeJS.Dict<string>;
}

interface RawOptions {
  token: string;
  /** Called with each body chunk; may destroy the request to hang up. */
  onData?: (chunk: Buffer, soFar: Buffer, hangUp: () => void) => void;
}

function rawExec(emulator: Emulator, body: string, options: RawOptions): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${emulator.apiUrl}/exec`,
      { method: "POST", headers: { Authorization: `Bearer ${options.token}`, "Content-Type": "text/plain" } },
      (response) => {
        const chunks: Buffer[] = [];
        const answer = (): RawAnswer => ({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks),
          trailers: response.trailers,
        });
        response.on("data", (chunk: Buffer) => {
          chunks.push(chunk);
          options.onData?.(chunk, Buffer.concat(chunks), () => {
            outgoing.destroy();
            resolve(answer());
          });
        });
        response.on("end", () => resolve(answer()));
        response.on("error", reject);
      },
    );
    outgoing.on("error", (error) => {
      if (!outgoing.destroyed) reject(error);
    });
    outgoing.end(body);
  });
}

/**
 * The live processes of a process group, from `ps` (empty once the group is gone). Zombies are
 * dead already: orphans wait for this machine's init to reap them, which may be slow.
 */
function groupMembers(pgid: number): number[] {
  const listing = execFileSync("ps", ["-eo", "pid=,pgid=,stat="], { encoding: "utf8" });
  return listing
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([, group, stat]) => Number(group) === pgid && !stat?.startsWith("Z"))
    .map(([pid]) => Number(pid));
}

/** Waits (bounded) for a group to be empty: SIGKILL is delivered asynchronously. */
async function groupGone(pgid: number): Promise<number[]> {
  for (let attempt = 0; attempt < 100 && groupMembers(pgid).length > 0; attempt++) await sleep(50);
  return groupMembers(pgid);
}

describe("POST /exec ssh <vm> <command>", () => {
  let emulator: Emulator;
  let vm: string;
  let otherVm: string;
  let token: string;
  let keyCount = 0;
  const workspace = (name: string) => join(emulator.dataDir, "vms", name);
  const tokenFor = (cmds: string[] | undefined) => {
    const key = generateSshKeyPair();
    emulator.registerKey(key.publicKey, `ssh-exec-key-${++keyCount}`);
    return mintToken({ privateKey: key.privateKey, permissions: cmds ? { cmds } : {} });
  };
  const ssh = (body: string, options: Partial<RawOptions> = {}) =>
    rawExec(emulator, body, { token, ...options });

  beforeAll(async () => {
    emulator = await startEmulator();
    const maker = emulator.createToken({ cmds: ["new"] });
    vm = (await post(emulator, "new --json", { token: maker })).lines[0]?.vm_name as string;
    otherVm = (await post(emulator, "new --json", { token: maker })).lines[0]?.vm_name as string;
    expect(vm).toMatch(/\S/);
    expect(otherVm).toMatch(/\S/);
  });
  // The rate limit is per key, so each test signs with a key of its own.
  beforeEach(() => {
    token = tokenFor(["ssh"]);
  });
  afterAll(async () => {
    await emulator?.stop();
  });

  it("exit codes 0, 1 and 42 arrive in the X-Exe-Exit trailer of a 200 octet-stream", async () => {
    for (const [command, code] of [
      ["true", "0"],
      ["false", "1"],
      ["'exit 42'", "42"],
    ] as const) {
      const answer = await ssh(`ssh ${vm} ${command}`);
      expect(answer.status, command).toBe(200);
      expect(answer.headers["content-type"]).toBe("application/octet-stream");
      expect(answer.headers.trailer).toBe("X-Exe-Exit");
      expect(answer.trailers["x-exe-exit"], command).toBe(code);
    }
  });

  it("a signal is reported as 128 + its number", async () => {
    expect((await ssh(`ssh ${vm} 'kill -TERM $$'`)).trailers["x-exe-exit"]).toBe("143");
  });

  it("stdout and stderr are both in the body, each stream in its own order", async () => {
    const answer = await ssh(`ssh ${vm} 'echo out1; echo err1 >&2; echo out2; echo err2 >&2'`);
    const lines = answer.body
      .toString()
      .split("\n")
      .filter((line) => line !== "");
    // Across the two pipes the order is the reader's, so only each stream's own order is fixed.
    expect([...lines].sort()).toEqual(["err1", "err2", "out1", "out2"]);
    expect(lines.filter((line) => line.startsWith("out"))).toEqual(["out1", "out2"]);
    expect(lines.filter((line) => line.startsWith("err"))).toEqual(["err1", "err2"]);
    expect(answer.trailers["x-exe-exit"]).toBe("0");
  });

  it("binary output passes through intact", async () => {
    const everyByte = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
    const answer = await ssh(`ssh ${vm} 'echo ${everyByte.toString("base64")} | base64 -d'`);
    expect(answer.body.equals(everyByte)).toBe(true);

    const big = await ssh(`ssh ${vm} 'head -c 1048576 /dev/urandom | tee random.bin'`);
    expect(big.trailers["x-exe-exit"]).toBe("0");
    expect(big.body.length).toBe(1_048_576);
    expect(big.body.equals(readFileSync(join(workspace(vm), "random.bin")))).toBe(true);
  });

  it("streams output as it comes, not at the end", async () => {
    const go = join(workspace(vm), "go");
    // The command finishes only once the test has seen its first line: buffering would hang it.
    const answer = await ssh(
      `ssh ${vm} 'echo started; while [ ! -e go ]; do sleep 0.05; done; echo finished'`,
      {
        onData: (_chunk, soFar) => {
          if (soFar.toString().includes("started") && !existsSync(go)) writeFileSync(go, "");
        },
      },
    );
    expect(answer.body.toString()).toBe("started\nfinished\n");
    expect(answer.trailers["x-exe-exit"]).toBe("0");
  });

  it("two parsers: the lobby's words, re-joined with single spaces, go to the VM's shell in its workspace", async () => {
    const quoted = await ssh(`ssh ${vm} "printf '%s|' 'a  b' c"`);
    expect(quoted.body.toString()).toBe("a  b|c|");
    expect((await ssh(`ssh ${vm} echo a    b`)).body.toString()).toBe("a b\n");
    expect((await ssh(`ssh ${vm} 'echo $HOME; pwd'`)).body.toString()).toBe(
      `${workspace(vm)}\n${workspace(vm)}\n`,
    );
  });

  it("accepts -l user and user@vm, and refuses other ssh options with 422", async () => {
    expect((await ssh(`ssh -l someone ${vm} echo hi`)).body.toString()).toBe("hi\n");
    expect((await ssh(`ssh someone@${vm} echo hi`)).body.toString()).toBe("hi\n");
    const option = await post(emulator, `ssh -o Foo=bar ${vm} true`, { token });
    expect(option.status).toBe(422);
    expect(option.lines[0]?.error).toMatch(/unsupported option/);
  });

  it("403 without ssh in the token's cmds, the default cmds included", async () => {
    for (const cmds of [["ls"], ["ssh-key list"], undefined]) {
      const answer = await post(emulator, `ssh ${vm} true`, { token: tokenFor(cmds) });
      expect(answer.status, String(cmds)).toBe(403);
      expect(answer.lines).toEqual([{ error: "command not allowed by token permissions" }]);
    }
  });

  it("a token scoped to `ssh <vm>` runs commands on that VM only", async () => {
    const scoped = tokenFor([`ssh ${vm}`]);
    const mine = await ssh(`ssh ${vm} echo mine`, { token: scoped });
    expect(mine.body.toString()).toBe("mine\n");
    expect(mine.trailers["x-exe-exit"]).toBe("0");
    expect((await post(emulator, `ssh ${otherVm} echo theirs`, { token: scoped })).status).toBe(403);
    expect((await post(emulator, "ssh no-such-vm true", { token: scoped })).status).toBe(403);
  });

  it("422 with a JSON error for an unknown VM or a missing VM or command", async () => {
    for (const body of ["ssh no-such-vm true", `ssh ${vm}`, "ssh"]) {
      const answer = await post(emulator, body, { token });
      expect(answer.status, body).toBe(422);
      expect(answer.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(answer.lines[0]?.error, body).toEqual(expect.any(String));
    }
  });

  it("the deadline kills the whole process group and ends the response without the trailer", async () => {
    emulator.faults.setCommandDeadlineMs(2000);
    try {
      const answer = await ssh(
        `ssh ${vm} 'echo $$ > deadline.pid; echo started; sleep 10 & sleep 10; echo never'`,
      );
      expect(answer.status).toBe(200);
      // "started" is not asserted: a loaded machine may be slow to start the shell.
      expect(answer.body.toString()).not.toContain("never");
      expect(answer.trailers["x-exe-exit"]).toBeUndefined();
      const pgid = Number(readFileSync(join(workspace(vm), "deadline.pid"), "utf8"));
      expect(pgid).toBeGreaterThan(0);
      expect(await groupGone(pgid)).toEqual([]);
    } finally {
      emulator.faults.setCommandDeadlineMs(undefined);
    }
  });

  it("a client that hangs up mid-run has the process group killed", async () => {
    await ssh(`ssh ${vm} 'echo $$ > hangup.pid; echo started; sleep 20 & sleep 20'`, {
      onData: (_chunk, soFar, hangUp) => {
        if (soFar.toString().includes("started")) hangUp();
      },
    });
    const pgid = Number(readFileSync(join(workspace(vm), "hangup.pid"), "utf8"));
    expect(pgid).toBeGreaterThan(0);
    expect(await groupGone(pgid)).toEqual([]);
  });

  it("help lists ssh, and a token may name it", async () => {
    const help = await post(emulator, "help ssh", { token: tokenFor(["help"]) });
    expect(help.lines[0]).toMatchObject({ command: "ssh" });
  });
});
