import { randomInt } from "node:crypto";
import { generateSshKeyPair } from "@exedev-sandbox/core";
import ssh2, { type Client, type ClientChannel } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { post, run } from "./test-helpers.js";

// The emulator's terminals at the SSH level (what the sandbox contract cannot reach: a raw
// `shell` with a pty, signals, hang-up, a paste bigger than the pty's buffers).
const key = generateSshKeyPair("pty-test");
let emulator: Emulator;
let vm: string;
let connection: Client;

beforeAll(async () => {
  emulator = await startEmulator();
  emulator.registerKey(key.publicKey, "pty-test");
  vm = "pty-test";
  expect((await post(emulator, `new --name=${vm}`, { token: emulator.createToken() })).status).toBe(200);
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
});
afterAll(async () => {
  connection?.end();
  await emulator?.stop();
});

/** A channel's output so far, and a wait for a pattern in it (never a fixed sleep). */
function watch(channel: ClientChannel) {
  let text = "";
  let exit: { code: number | null; signal?: string } | undefined;
  const closed = new Promise<void>((resolve) => channel.once("close", () => resolve()));
  channel.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
  });
  channel.stderr.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
  });
  channel.on("exit", (code: number | null, signal?: string) => {
    exit = { code, signal };
  });
  return {
    text: () => text,
    async until(pattern: RegExp, from = 0): Promise<void> {
      for (const deadline = Date.now() + 15_000; !pattern.test(text.slice(from)); ) {
        if (Date.now() > deadline)
          throw new Error(`never saw ${pattern} in ${JSON.stringify(text.slice(-1000))}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async closed() {
      await closed;
      return exit;
    },
  };
}

const pty = { rows: 30, cols: 100, height: 0, width: 0, term: "xterm" };
const open = (how: "exec" | "shell", command = ""): Promise<ClientChannel> =>
  new Promise((resolve, reject) => {
    const done = (error: Error | undefined, channel: ClientChannel) =>
      error ? reject(error) : resolve(channel);
    if (how === "exec") connection.exec(command, { pty }, done);
    else connection.shell(pty, done);
  });

const running = async (marker: string): Promise<string> =>
  (await run("sh", ["-c", `ps -eo args= | grep -F -- ${marker} | grep -v grep || true`])).stdout.trim();

describe("emulator terminals", () => {
  it("gives exec a pty as its controlling terminal, with the requested size and TERM, and resizes it", async () => {
    const channel = await open(
      "exec",
      'tty; stty size; echo "term=$TERM"; [ -t 0 ] && echo ctty=$(ps -o tty= -p $$); read x; stty size',
    );
    const seen = watch(channel);
    await seen.until(/ctty=/);
    expect(seen.text()).toMatch(/^\/dev\/pts\/\d+\r\n30 100\r\n/);
    expect(seen.text()).toMatch(/ctty=pts\/\d+/);
    channel.setWindow(40, 132, 0, 0);
    channel.write("\r");
    await seen.until(/40 132/);
    expect(await seen.closed()).toEqual({ code: 0, signal: undefined });
  });

  it("runs an interactive login shell for `shell`, and echoes what is typed", async () => {
    const channel = await open("shell");
    const seen = watch(channel);
    channel.write('echo "flags=$-"; exit 7\r');
    expect(await seen.closed()).toEqual({ code: 7, signal: undefined });
    expect(seen.text()).toContain('echo "flags=$-"');
    expect(seen.text()).toMatch(/flags=\S*i/);
  });

  it("delivers signal requests to the command and reports how it ended", async () => {
    const marker = `${randomInt(10_000_000, 99_999_999)}`;
    const channel = await open("exec", `echo started; exec sleep 4${marker}`);
    const seen = watch(channel);
    await seen.until(/started/);
    channel.signal("TERM");
    expect(await seen.closed()).toEqual({ code: null, signal: "SIGTERM" });
    expect(await running(marker)).toBe("");
  });

  it("hangs the terminal up when the client closes the channel (SIGHUP), as sshd does", async () => {
    const marker = `${randomInt(10_000_000, 99_999_999)}`;
    const channel = await open("exec", `echo started; sleep 4${marker}`);
    const seen = watch(channel);
    await seen.until(/started/);
    channel.close();
    await seen.closed();
    for (const deadline = Date.now() + 5_000; (await running(marker)) !== "" && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await running(marker)).toBe("");
  });

  it("takes a paste far bigger than the pty's buffers into an echoing program without stalling", async () => {
    const channel = await open("exec", "wc -c");
    const seen = watch(channel);
    const line = `${"x".repeat(99)}\n`;
    const lines = 3_000;
    // Typed while wc starts: the pty's echo fills its output side as the input fills the other.
    for (let i = 0; i < lines; i++) channel.write(line);
    channel.write("\x04");
    const exit = await seen.closed();
    expect(exit).toEqual({ code: 0, signal: undefined });
    // Echoed back (\n as \r\n), then wc's count of what the program read.
    expect(seen.text()).toMatch(new RegExp(`${line.length * lines}\\r\\n$`));
  });
});
