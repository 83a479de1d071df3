import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSshKeyPair, mintToken } from "@exedev-sandbox/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { post, sleep } from "./test-helpers.js";

// Keys come from core's generateSshKeyPair: ssh2's utils.generateKeyPairSync("ed25519"), with
// the rare pair that ssh2 cannot parse back thrown away.
const user = generateSshKeyPair("api-test");
const now = () => Math.floor(Date.now() / 1000);

describe("POST /exec", () => {
  let emulator: Emulator;
  let token: string;
  let keyName: string;
  let keyCount = 0;
  const workspace = (name: string) => join(emulator.dataDir, "vms", name);
  const exec = (body: string, options: { token?: string } = {}) =>
    post(emulator, body, { token: options.token ?? token });

  beforeAll(async () => {
    emulator = await startEmulator();
    emulator.registerKey(user.publicKey, "api-test");
  });
  // The rate limit is per key, so each test signs with a key of its own.
  beforeEach(() => {
    const key = generateSshKeyPair();
    keyName = `test-key-${++keyCount}`;
    emulator.registerKey(key.publicKey, keyName);
    token = mintToken({
      privateKey: key.privateKey,
      permissions: {
        cmds: ["help", "ls", "new", "rm", "cp", "restart", "tag", "comment", "whoami", "ssh-key list"],
      },
    });
  });
  afterAll(async () => {
    await emulator?.stop();
  });

  describe("status codes", () => {
    it("405 for anything but POST, with Allow: POST; 404 for other paths", async () => {
      for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
        const answer = await post(emulator, method === "GET" ? undefined : "ls", { token, method });
        expect(answer.status, method).toBe(405);
        expect(answer.headers.get("allow")).toBe("POST");
        expect(answer.lines).toEqual([{ error: "method not allowed" }]);
      }
      expect((await post(emulator, "ls", { token, path: "/nope" })).status).toBe(404);
    });

    it("401 with WWW-Authenticate for missing, malformed, unregistered, forged, expired and not-yet-valid tokens", async () => {
      const stranger = generateSshKeyPair();
      const [payload, signature] = token.split(".").slice(1);
      const otherPayload = mintToken({ privateKey: user.privateKey, permissions: { cmds: ["ls"] } }).split(
        ".",
      )[1];
      const cases: Array<[string, { token?: string; authorization?: string }]> = [
        ["no header", {}],
        ["not bearer", { authorization: `Basic ${Buffer.from(`x:${token}`).toString("base64")}` }],
        ["empty bearer", { authorization: "Bearer   " }],
        ["garbage", { token: "exe0.garbage.token" }],
        ["not exe0", { token: "hello" }],
        ["exe1 (not supported here)", { token: "exe1.ABCDEFGHIJKLMNOPQRSTUVWXYZ" }],
        ["unregistered key", { token: mintToken({ privateKey: stranger.privateKey }) }],
        ["payload swapped (bad signature)", { token: `exe0.${otherPayload}.${signature}` }],
        ["signature cut", { token: `exe0.${payload}.${signature?.slice(0, -8)}` }],
        ["expired", { token: mintToken({ privateKey: user.privateKey, permissions: { exp: now() - 60 } }) }],
        [
          "not yet valid",
          { token: mintToken({ privateKey: user.privateKey, permissions: { nbf: now() + 3600 } }) },
        ],
        [
          "other namespace",
          { token: mintToken({ privateKey: user.privateKey, namespace: "v0@some-vm.exe.xyz" }) },
        ],
        ["too long", { token: `exe0.${"A".repeat(9000)}.x` }],
      ];
      for (const [label, auth] of cases) {
        const answer = await post(emulator, "whoami", auth);
        expect(answer.status, label).toBe(401);
        expect(answer.headers.get("www-authenticate"), label).toBe("Bearer");
        expect(answer.lines, label).toEqual([{ error: "invalid token" }]);
      }
    });

    it("accepts the bearer scheme in any case and trims the token", async () => {
      expect((await post(emulator, "whoami", { authorization: `bEaReR    ${token}   ` })).status).toBe(200);
    });

    it("400 for an empty body, a NUL byte or bad quoting", async () => {
      for (const body of ["", "   \n\t ", "ls\0x", "ls 'open", 'ls "open', "ls \\"]) {
        const answer = await exec(body);
        expect(answer.status, JSON.stringify(body)).toBe(400);
        expect(typeof answer.lines[0]!.error).toBe("string");
      }
    });

    it("413 above 64 KiB, and 64 KiB exactly is accepted", async () => {
      expect((await exec(`help${" ".repeat(65_537 - 4)}`)).status).toBe(413);
      expect((await exec(`help${" ".repeat(65_536 - 4)}`)).status).toBe(200);
      expect((await exec("x".repeat(2_000_000))).status).toBe(413);
    });

    it("403 when the command is not in the token's cmds, with exe.dev's default cmds when absent", async () => {
      const lsOnly = mintToken({ privateKey: user.privateKey, permissions: { cmds: ["ls"] } });
      expect((await exec("rm some-vm", { token: lsOnly })).status).toBe(403);
      expect((await exec("ls", { token: lsOnly })).status).toBe(200);
      const none = mintToken({ privateKey: user.privateKey, permissions: { cmds: [] } });
      expect((await exec("help", { token: none })).status).toBe(403);
      const group = mintToken({ privateKey: user.privateKey, permissions: { cmds: ["ssh-key"] } });
      expect((await exec("ssh-key list", { token: group })).status).toBe(403);
      const defaults = mintToken({ privateKey: user.privateKey });
      for (const denied of ["rm x", "cp x", "restart x"]) {
        const answer = await exec(denied, { token: defaults });
        expect(answer.status, denied).toBe(403);
        expect(answer.lines).toEqual([{ error: "command not allowed by token permissions" }]);
      }
      for (const allowed of ["help", "ls", "whoami", "ssh-key list"]) {
        expect((await exec(allowed, { token: defaults })).status, allowed).toBe(200);
      }
    });

    it("404 for unknown commands", async () => {
      for (const body of ["frobnicate", "ssh-key", "ssh-key frob", "share frob x", "share", "LS"]) {
        const answer = await exec(body);
        expect(answer.status, body).toBe(404);
        expect(String(answer.lines[0]!.error)).toContain("unknown command");
      }
    });

    it("422 when the command fails", async () => {
      await exec("new --name=taken-name");
      const failing = [
        "new --name=Bad_Name",
        "new --name=abc",
        `new --name=a${"b".repeat(52)}`,
        "new --name=sandbox",
        "new --name=my-vm",
        "new --name=build-p8080",
        "new --name=taken-name",
        "new positional-name",
        "new --nope",
        "new --name",
        "new --cpu=two",
        "new --cpu=0",
        "new --memory=1GB",
        "new --disk=lots",
        "new --tag=Bad",
        `new --comment=${"x".repeat(201)}`,
        "new --integration=github",
        "new --setup-script=/dev/stdin",
        "new --image=ubuntu:24.04 --prompt=hi",
        "cp",
        "cp no-such-vm",
        "cp taken-name a-copy extra",
        "cp taken-name --name=one-name two-name",
        "restart",
        "restart no-such-vm",
        "rm",
        "tag",
        "tag no-such-vm ci",
        "tag taken-name",
        "tag taken-name Bad",
        "comment no-such-vm hi",
        `comment taken-name ${"x".repeat(201)}`,
        "help frobnicate",
        "ls --json=maybe",
      ];
      for (const body of failing) {
        const answer = await exec(body);
        expect(answer.status, body).toBe(422);
        expect(answer.lines.length, body).toBe(1);
        expect(typeof answer.lines[0]!.error, body).toBe("string");
      }
      expect((await exec("new --name=taken-name")).lines[0]!.error).toContain("not available");
    });

    it("says why a name is not available: reserved (such as the placeholder my-vm) or taken", async () => {
      const reserved = (await exec("new --name=my-vm")).lines[0]!.error as string;
      expect(reserved).toMatch(/^VM name "my-vm" is not available: exe.dev reserves the word "myvm"/);
      expect(reserved).toContain('"my-vm-1a2b"');
      const suggested = await exec("new --name=my-vm-1a2b --json");
      expect(suggested.status).toBe(200);
      const taken = (await exec("new --name=my-vm-1a2b")).lines[0]!.error as string;
      expect(taken).toMatch(/^VM name "my-vm-1a2b" is not available: a VM of that name exists/);
      expect((await exec("rm my-vm-1a2b")).status).toBe(200);
    });

    it("429 past a burst of 60 per key, per key", async () => {
      const burst = generateSshKeyPair();
      emulator.registerKey(burst.publicKey, "burst");
      const limited = mintToken({ privateKey: burst.privateKey, permissions: { cmds: ["help"] } });
      const statuses = await Promise.all(
        Array.from({ length: 70 }, () => exec("help", { token: limited }).then((answer) => answer.status)),
      );
      const refused = statuses.filter((status) => status === 429).length;
      expect(refused).toBeGreaterThanOrEqual(5);
      expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(60);
      const answer = await exec("help", { token: limited });
      if (answer.status === 429) {
        expect(answer.lines).toEqual([{ error: "rate limit exceeded" }]);
        expect(answer.headers.get("retry-after")).toBe("1");
      }
      expect((await exec("help")).status).toBe(200); // another key is not affected
      await sleep(1100);
      expect((await exec("help", { token: limited })).status).toBe(200); // refilled
    });

    it("answers injected failures for the next N calls", async () => {
      emulator.faults.failNextApiCalls(2, 503);
      expect((await exec("ls")).status).toBe(503);
      const second = await exec("ls");
      expect(second.status).toBe(503);
      expect(String(second.lines[0]!.error)).toContain("injected");
      expect((await exec("ls")).status).toBe(200);
    });

    it("keeps serving after every kind of bad input, including broken HTTP", async () => {
      const garbage = [
        Buffer.from("NOT HTTP AT ALL\r\n\r\n"),
        Buffer.from([0, 1, 2, 255, 254]),
        Buffer.alloc(100_000, 65),
      ];
      const [host, port] = [emulator.sshHost, Number(new URL(emulator.apiUrl).port)];
      for (const bytes of garbage) {
        await new Promise<void>((resolve) => {
          const socket = connect(port, host, () => socket.end(bytes));
          socket.on("error", () => resolve());
          socket.on("close", () => resolve());
          socket.resume();
        });
      }
      const bodies = ["'", "\0", "", "new --name=\u0000", "ls [", "ls '['", "ls \\[a-", "new --env=NOEQUALS"];
      for (const body of bodies) await exec(body);
      expect((await exec("whoami")).status).toBe(200);
    });
  });

  describe("responses", () => {
    it("are compact JSON, one document per line, with a trailing newline and exe.dev's headers", async () => {
      const answer = await exec("whoami");
      expect(answer.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
      expect(answer.text.endsWith("}\n")).toBe(true);
      expect(answer.text.split("\n")).toHaveLength(2);
      expect(answer.text).not.toMatch(/": |, "/);
    });

    it("new: exe.dev's shape, pointing at the SSH gateway", async () => {
      const answer = await exec(
        "new --name=shape-new-vm --tag=b,a --tag a --comment='hi there' --no-email --json",
      );
      expect(answer.status).toBe(200);
      expect(answer.lines).toEqual([
        {
          vm_name: "shape-new-vm",
          tags: ["a", "b"],
          ssh_command: `ssh -p ${emulator.sshPort} vm+shape-new-vm@${emulator.sshHost}`,
          ssh_dest: `vm+shape-new-vm@${emulator.sshHost}`,
          ssh_host: emulator.sshHost,
          ssh_user: "vm+shape-new-vm",
          ssh_port: emulator.sshPort,
          https_url: `http://shape-new-vm.localhost:${emulator.proxyPort}/`,
          proxy_port: 8000,
        },
      ]);
      expect(existsSync(workspace("shape-new-vm"))).toBe(true);
      const random = await exec("new");
      expect(String(random.lines[0]!.vm_name)).toMatch(/^vm-[a-z0-9]{8}$/);
      expect(random.lines[0]!.tags).toEqual([]);
    });

    it("ls: every VM, or those matching names, tags or globs", async () => {
      await exec(
        "new --name=shape-ls-one --tag=blue --comment=first --image=ubuntu:24.04 --cpu=4 --memory=16GB --disk=50",
      );
      await exec("new --name=shape-ls-two --tag=green");
      const all = await exec("ls");
      expect((all.lines[0]!.vms as unknown[]).length).toBeGreaterThanOrEqual(2);
      const names = async (body: string) =>
        ((await exec(body)).lines[0]!.vms as Array<{ vm_name: string }>).map((vm) => vm.vm_name);
      expect(await names("ls shape-ls-*")).toEqual(["shape-ls-one", "shape-ls-two"]);
      expect(await names("ls blue")).toEqual(["shape-ls-one"]);
      expect(await names("ls 'gr??n' shape-ls-one.exe.xyz")).toEqual(["shape-ls-one", "shape-ls-two"]);
      expect(await names("ls shape-ls-[!o]*")).toEqual(["shape-ls-two"]);
      expect(await names("ls nothing-matches")).toEqual([]);
      // A pattern that made the old regex-based matcher backtrack for hours on this tag.
      await exec(`new --name=shape-ls-long --tag=${"a".repeat(2000)}`);
      const started = Date.now();
      expect(await names("ls '*a*a*a*a*a*a*a*a*b'")).toEqual([]);
      expect(await names("ls '*a*a*a*a*a*a*a*a*'")).toEqual(["shape-ls-long"]);
      expect(Date.now() - started).toBeLessThan(2000);
      const [entry] = (await exec("ls shape-ls-one -l --json")).lines[0]!.vms as Array<
        Record<string, unknown>
      >;
      expect(entry).toEqual({
        vm_name: "shape-ls-one",
        ssh_dest: `vm+shape-ls-one@${emulator.sshHost}`,
        ssh_host: emulator.sshHost,
        ssh_user: "vm+shape-ls-one",
        ssh_port: emulator.sshPort,
        status: "running",
        region: "local",
        region_display: "Local emulator",
        https_url: `http://shape-ls-one.localhost:${emulator.proxyPort}/`,
        image: "ubuntu:24.04",
        tags: ["blue"],
        comment: "first",
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        disk_capacity_bytes: 50 * 1024 ** 3,
        memory_capacity_bytes: 16 * 1024 ** 3,
        allocated_cpus: 4,
      });
      const [plain] = (await exec("ls shape-ls-two")).lines[0]!.vms as Array<Record<string, unknown>>;
      expect(plain).not.toHaveProperty("image");
      expect(plain).not.toHaveProperty("comment");
      expect((await exec("ls -a")).lines[0]!.team_vms).toEqual([]);
    });

    it("whoami and ssh-key list: the registered keys, `current` marking the signer", async () => {
      const who = (await exec("whoami")).lines[0] as { ssh_keys: Array<Record<string, unknown>> };
      expect(who).toMatchObject({
        email: expect.any(String),
        region: "local",
        region_display: "Local emulator",
      });
      const mine = who.ssh_keys.find((key) => key.name === keyName);
      expect(mine).toEqual({
        public_key: expect.stringMatching(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/),
        fingerprint: expect.stringMatching(/^SHA256:[A-Za-z0-9+/]{43}$/),
        name: keyName,
        current: true,
      });
      expect(who.ssh_keys.filter((key) => key.current)).toHaveLength(1);
      expect(who.ssh_keys.find((key) => key.name === "api-test")).toEqual({
        public_key: user.publicKey.split(" ").slice(0, 2).join(" "),
        fingerprint: expect.any(String),
        name: "api-test",
        current: false,
      });
      const list = (await exec("ssh-key list")).lines[0] as { ssh_keys: Array<Record<string, unknown>> };
      expect(list.ssh_keys.find((key) => key.name === keyName)).toEqual({
        public_key: mine?.public_key,
        fingerprint: mine?.fingerprint,
        name: keyName,
        added_at: expect.stringMatching(/^\d{4}-/),
        last_used_at: expect.stringMatching(/^\d{4}-/),
        current: true,
      });
      expect(list.ssh_keys.find((key) => key.name === "emulator")?.last_used_at).toBeNull();
    });

    it("help: the commands, one command's details, and --help on any command", async () => {
      const { commands } = (await exec("help")).lines[0] as { commands: Array<Record<string, unknown>> };
      expect(commands.map((command) => command.name)).toEqual([
        "help",
        "ls",
        "new",
        "rm",
        "cp",
        "restart",
        "tag",
        "comment",
        "whoami",
        "ssh-key",
        "share",
        "ssh",
      ]);
      expect(commands.find((command) => command.name === "ssh-key")?.subcommands).toEqual([
        { name: "list", description: "List SSH keys" },
      ]);
      const details = (await exec("help new")).lines[0];
      expect(details).toMatchObject({ command: "new", usage: expect.stringContaining("new") });
      expect((details!.flags as Array<{ name: string }>).map((flag) => flag.name)).toContain("setup-script");
      expect((await exec("rm --help")).lines[0]).toMatchObject({ command: "rm" });
      expect((await exec("help ssh-key list")).lines[0]).toMatchObject({ command: "ssh-key list" });
      expect((await exec("help ssh-key")).lines[0]).toMatchObject({
        command: "ssh-key",
        subcommands: [{ name: "list" }],
      });
    });

    it("rm: deletes workspaces, answering 200 with one error line per failure before the result", async () => {
      await exec("new --name=shape-rm-one");
      await exec("new --name=shape-rm-two");
      writeFileSync(join(workspace("shape-rm-one"), "file.txt"), "x");
      const answer = await exec("rm shape-rm-one missing-vm-one shape-rm-two.exe.xyz missing-vm-two --json");
      expect(answer.status).toBe(200);
      expect(answer.lines).toEqual([
        { error: 'VM "missing-vm-one" not found' },
        { error: 'VM "missing-vm-two" not found' },
        { deleted: ["shape-rm-one", "shape-rm-two"], failed: ["missing-vm-one", "missing-vm-two"] },
      ]);
      expect(existsSync(workspace("shape-rm-one"))).toBe(false);
      expect(existsSync(workspace("shape-rm-two"))).toBe(false);
      expect((await exec("ls shape-rm-*")).lines[0]!.vms).toEqual([]);
    });

    it("cp: copies the workspace (files, directories, links, modes) and answers the new shape", async () => {
      await exec("new --name=shape-cp-src --tag=base --comment=original --cpu=3");
      const source = workspace("shape-cp-src");
      mkdirSync(join(source, "deep", "er"), { recursive: true });
      writeFileSync(join(source, "deep", "er", "data.bin"), Buffer.from([0, 1, 2, 255]));
      writeFileSync(join(source, "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
      symlinkSync("deep/er/data.bin", join(source, "link"));
      const copied = await exec("cp shape-cp-src shape-cp-dst");
      expect(copied.status).toBe(200);
      expect(copied.lines[0]).toMatchObject({
        vm_name: "shape-cp-dst",
        tags: ["base"],
        ssh_user: "vm+shape-cp-dst",
      });
      const target = workspace("shape-cp-dst");
      expect(readFileSync(join(target, "deep", "er", "data.bin"))).toEqual(Buffer.from([0, 1, 2, 255]));
      expect(lstatSync(join(target, "run.sh")).mode & 0o777).toBe(0o755);
      expect(readlinkSync(join(target, "link"))).toBe("deep/er/data.bin");
      writeFileSync(join(target, "only-in-copy"), "x");
      expect(existsSync(join(source, "only-in-copy"))).toBe(false);
      const [listed] = (await exec("ls shape-cp-dst")).lines[0]!.vms as Array<Record<string, unknown>>;
      expect(listed).toMatchObject({ comment: "original", allocated_cpus: 3, tags: ["base"] });

      const untagged = await exec("cp shape-cp-src --name=shape-cp-bare --copy-tags=false --cpu=1");
      expect(untagged.lines[0]).toMatchObject({ vm_name: "shape-cp-bare", tags: [] });
      const generated = await exec("cp shape-cp-src.exe.xyz");
      expect(String(generated.lines[0]!.vm_name)).toMatch(/^vm-/);
      expect((await exec("cp shape-cp-src shape-cp-dst")).status).toBe(422); // taken
    });

    it("restart: answers exe.dev's shape", async () => {
      await exec("new --name=shape-restart");
      expect((await exec("restart shape-restart.exe.xyz")).lines).toEqual([
        { vm_name: "shape-restart", status: "restarted" },
      ]);
    });

    it("tag and comment: answer {vm_name, tags} and {vm_name, comment}, and ls shows them", async () => {
      await exec("new --name=shape-tag --tag=b");
      expect((await exec("tag shape-tag.exe.xyz z a b a")).lines).toEqual([
        { vm_name: "shape-tag", tags: ["a", "b", "z"] },
      ]);
      expect((await exec("tag -d shape-tag b not-there")).lines).toEqual([
        { vm_name: "shape-tag", tags: ["a", "z"] },
      ]);
      expect((await exec("comment shape-tag built by ci")).lines).toEqual([
        { vm_name: "shape-tag", comment: "built by ci" },
      ]);
      expect((await exec("ls shape-tag")).lines[0]).toMatchObject({
        vms: [{ vm_name: "shape-tag", tags: ["a", "z"], comment: "built by ci" }],
      });
      expect((await exec("ls z")).lines[0]).toMatchObject({ vms: [{ vm_name: "shape-tag" }] });
      await exec("comment shape-tag ''");
      expect((await exec("ls shape-tag")).lines[0]).not.toHaveProperty("vms.0.comment");
    });

    it("new --setup-script runs once in the workspace, escapes expanded, then is deleted", async () => {
      const script = String.raw`echo "ran in $PWD as $HOME" >> setup.log\necho "tab:\t." > tab.txt\necho "$GREETING" > env.txt`;
      const answer = await exec(
        `new --name=shape-setup --env GREETING='hello there' --setup-script='${script}'`,
      );
      expect(answer.status).toBe(200);
      const log = join(workspace("shape-setup"), "setup.log");
      for (let i = 0; i < 100 && !existsSync(join(workspace("shape-setup"), "env.txt")); i++) await sleep(50);
      await sleep(100);
      expect(readFileSync(log, "utf8")).toBe(
        `ran in ${workspace("shape-setup")} as ${workspace("shape-setup")}\n`,
      );
      expect(readFileSync(join(workspace("shape-setup"), "tab.txt"), "utf8")).toBe("tab:\t.\n");
      expect(readFileSync(join(workspace("shape-setup"), "env.txt"), "utf8")).toBe("hello there\n");
      expect(existsSync(join(emulator.dataDir, "setup", "shape-setup.sh"))).toBe(false);
    });
  });
});

describe("state", () => {
  const scratch = mkdtempSync(join(tmpdir(), "exedev-emulator-state-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("survives a restart with the same dataDir: VMs, workspaces, keys and the emulator's own key", async () => {
    const dataDir = join(scratch, "data");
    const first = await startEmulator({ dataDir });
    first.registerKey(user.publicKey, "kept-key");
    const oldToken = first.createToken();
    const userToken = mintToken({
      privateKey: user.privateKey,
      permissions: { cmds: ["ls", "new", "whoami"] },
    });
    expect(
      (await post(first, "new --name=kept-vm --tag=kept --comment=still --env A=1", { token: userToken }))
        .status,
    ).toBe(200);
    writeFileSync(join(dataDir, "vms", "kept-vm", "file.txt"), "kept");
    const before = (await post(first, "ls", { token: userToken })).lines[0];
    await first.stop();
    expect(existsSync(join(dataDir, "state.json"))).toBe(true);

    const second = await startEmulator({ dataDir });
    try {
      const after = (await post(second, "ls", { token: userToken })).lines[0] as {
        vms: Array<Record<string, unknown>>;
      };
      const strip = (value: unknown) =>
        (value as { vms: Array<Record<string, unknown>> }).vms.map(
          ({ ssh_port, ssh_command, ssh_dest, https_url, ...rest }) => rest,
        );
      expect(strip(after)).toEqual(strip(before));
      expect(readFileSync(join(dataDir, "vms", "kept-vm", "file.txt"), "utf8")).toBe("kept");
      const keys = (
        (await post(second, "whoami", { token: userToken })).lines[0] as { ssh_keys: Array<{ name: string }> }
      ).ssh_keys;
      expect(keys.map((key) => key.name)).toEqual(["emulator", "kept-key"]);
      expect((await post(second, "whoami", { token: oldToken })).status).toBe(200);
    } finally {
      await second.stop();
    }
    expect(existsSync(dataDir)).toBe(true); // a given dataDir is never removed
  });

  it("removes a temporary dataDir on stop, and stop is idempotent", async () => {
    const emulator = await startEmulator();
    expect(existsSync(emulator.dataDir)).toBe(true);
    await Promise.all([emulator.stop(), emulator.stop()]);
    await emulator.stop();
    expect(existsSync(emulator.dataDir)).toBe(false);
  });

  it("refuses a corrupt state file clearly", async () => {
    const dataDir = join(scratch, "corrupt");
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "state.json"), "{not json");
    await expect(startEmulator({ dataDir })).rejects.toMatchObject({ code: "invalid_argument" });
  });
});
