// createHttpsSandbox against the emulator's `/exec` with `ssh <vm> <command>`: exit codes from
// the marker (not the trailer), binary output, files in chunks under the 64 KiB body limit, and
// a command longer than the 30 s request deadline.
import { createHash, randomBytes } from "node:crypto";
import { createExeDevApi } from "@exedev-sandbox/core";
import { createHttpsSandbox } from "@exedev-sandbox/core/https";
import { expectSandboxError } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";

let emulator: Emulator;
let vm: string;
let bodies: number[];

beforeAll(async () => {
  emulator = await startEmulator();
  const token = emulator.createToken();
  vm = (await createExeDevApi({ baseUrl: emulator.apiUrl, token }).newVm()).name;
});
afterAll(async () => {
  await emulator?.stop();
});

/** A sandbox whose fetch records each request body's size (what the 64 KiB limit applies to). */
function sandbox(pollWaitMs?: number) {
  bodies = [];
  const recording: typeof fetch = async (input, init) => {
    bodies.push(new TextEncoder().encode(String(init?.body ?? "")).length);
    return fetch(input, init);
  };
  return createHttpsSandbox({
    vm,
    api: { token: emulator.createToken(), baseUrl: emulator.apiUrl, fetch: recording },
    ...(pollWaitMs === undefined ? {} : { pollWaitMs }),
  });
}

describe("createHttpsSandbox (emulator /exec ssh)", () => {
  it("reports exit codes 0, 1 and 42, with stdout and stderr apart", async () => {
    const https = await sandbox();
    expect(await https.exec("echo out; echo err >&2")).toMatchObject({
      exitCode: 0,
      stdout: "out\n",
      stderr: "err\n",
    });
    expect((await https.exec("false")).exitCode).toBe(1);
    expect((await https.exec("exit 42")).exitCode).toBe(42);
  });

  it("passes binary stdout and text that looks like the end marker through unchanged", async () => {
    const https = await sandbox();
    const result = await https.exec(
      "printf '\\000\\001\\377 EXEDEV-END 0\\n__EXEDEV_END__ 42\\n'; echo 'exit 7'; printf 'quote'\"'\"'s $HOME `x`\\n'",
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("EXEDEV-END 0\n__EXEDEV_END__ 42\nexit 7\n");
    expect(result.stdout).toContain("quote's $HOME `x`\n");
    const bytes = await https.exec("head -c 256 /dev/zero | tr '\\000' '\\377' | base64 -w0");
    expect(Buffer.from(bytes.stdout, "base64")).toEqual(Buffer.alloc(256, 0xff));
  });

  it("round-trips a 1 MiB file in chunks, each request body within 64 KiB", async () => {
    const https = await sandbox();
    const data = randomBytes(1024 * 1024);
    const path = `${https.homeDir || "/tmp"}/https-${randomBytes(4).toString("hex")}.bin`;
    await https.writeFile(path, data);
    expect(Math.max(...bodies)).toBeLessThanOrEqual(65_536);
    const back = await https.readFileBuffer(path);
    expect(createHash("sha256").update(back).digest("hex")).toBe(
      createHash("sha256").update(data).digest("hex"),
    );
    const onVm = await https.exec(`sha256sum ${path} | cut -d' ' -f1`);
    expect(onVm.stdout.trim()).toBe(createHash("sha256").update(data).digest("hex"));
    await https.rm(path);
    await expectSandboxError(https.readFile(path), "not_found");
  }, 60_000);

  it("runs a 40 s command past the 30 s request deadline, and says which methods it lacks", async () => {
    const https = await sandbox();
    const result = await https.exec("sleep 40; echo done");
    expect(result).toMatchObject({ exitCode: 0, stdout: "done\n" });
    expect(bodies.length).toBeGreaterThanOrEqual(2); // started, then polled
    await expectSandboxError(https.openTerminal(), "unsupported");
  }, 90_000);
});
