// createSandboxPool against the emulator: warm-up, many concurrent acquires under `max`, failing
// creations that back off and recover, and nothing left behind after close().
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createExeDevApi,
  createSandboxPool,
  type ExeDevApi,
  type SandboxPoolOptions,
} from "@exedev-sandbox/core";
import { expectSandboxError } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";

const scratch = mkdtempSync(join(tmpdir(), "exedev-pool-emu-"));
let emulator: Emulator;
let privateKey: string;

beforeAll(async () => {
  emulator = await startEmulator();
  privateKey = readFileSync(join(emulator.dataDir, "emulator_ed25519"), "utf8");
});
afterAll(async () => {
  await emulator?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** The real API, counting the VMs it created and deleted (the emulator does the work). */
function countingApi(options: { maxRetries?: number } = {}) {
  const api = createExeDevApi({ baseUrl: emulator.apiUrl, token: emulator.createToken(), ...options });
  const names = new Set<string>();
  let live = 0;
  let most = 0;
  const counted = {
    ...api,
    async newVm(create?: Parameters<ExeDevApi["newVm"]>[0]) {
      const vm = await api.newVm(create);
      names.add(vm.name);
      most = Math.max(most, ++live);
      return vm;
    },
    async removeVm(...args: unknown[]) {
      const result = await (api.removeVm as (...names: unknown[]) => ReturnType<ExeDevApi["removeVm"]>)(
        ...args,
      );
      live -= result.deleted.length;
      return result;
    },
  };
  return { api: counted as ExeDevApi, names, most: () => most, live: () => live, plain: api };
}

const poolOptions = (api: ExeDevApi, extra: Partial<SandboxPoolOptions> = {}): SandboxPoolOptions => ({
  size: 1,
  api,
  privateKey,
  hostKey: { sha256: emulator.hostKeyFingerprint },
  knownHostsPath: join(scratch, `kh-${randomBytes(4).toString("hex")}`),
  ...extra,
});

async function remaining(api: ExeDevApi, names: Set<string>): Promise<string[]> {
  return (await api.listVms()).map((vm) => vm.name).filter((name) => names.has(name));
}

describe("createSandboxPool (emulator)", () => {
  it("warms up, hands out a connected sandbox without creating one, and refills", async () => {
    const counting = countingApi();
    const pool = createSandboxPool(poolOptions(counting.api, { size: 2 }));
    try {
      await pool.warm();
      expect(pool.stats()).toMatchObject({ ready: 2, creating: 0, acquired: 0 });
      const createdBefore = counting.names.size;
      const sandbox = await pool.acquire();
      expect(counting.names.size).toBe(createdBefore); // no VM was made for this acquire
      expect((await sandbox.exec("echo warm")).stdout).toBe("warm\n");
      await pool.release(sandbox);
      expect(await remaining(counting.plain, new Set([sandbox.vm.name]))).toEqual([]);
      await expectSandboxError(pool.release(sandbox), "invalid_argument");
      await pool.warm(); // refilled to two
      expect(pool.stats().ready).toBe(2);
    } finally {
      await pool.close();
    }
    expect(await remaining(counting.plain, counting.names)).toEqual([]);
    await expectSandboxError(pool.acquire(), "closed");
  });

  it("serves 50 concurrent acquire() calls with size 5 and max 20: never more than 20 VMs, none left after close()", async () => {
    const counting = countingApi();
    const pool = createSandboxPool(poolOptions(counting.api, { size: 5, max: 20, reuse: true }));
    try {
      const outputs = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const sandbox = await pool.acquire({ timeoutMs: 120_000 });
          try {
            return (await sandbox.exec(`echo ${i}`)).stdout;
          } finally {
            await pool.release(sandbox);
          }
        }),
      );
      expect(outputs).toEqual(Array.from({ length: 50 }, (_, i) => `${i}\n`));
      expect(counting.most()).toBeLessThanOrEqual(20);
      expect(counting.most()).toBeGreaterThanOrEqual(5);
      expect(pool.stats()).toMatchObject({ acquired: 0, waiting: 0 });
    } finally {
      await pool.close();
    }
    expect(counting.live()).toBe(0);
    expect(await remaining(counting.plain, counting.names)).toEqual([]);
  }, 180_000);

  for (const status of [429, 500]) {
    it(`backs off when creations fail with ${status}, then recovers`, async () => {
      // No retries in the client, so each failure reaches the pool.
      const counting = countingApi({ maxRetries: 0 });
      emulator.faults.failNextApiCalls(3, status);
      const pool = createSandboxPool(poolOptions(counting.api, { size: 1, createRetryMs: 100 }));
      try {
        const started = Date.now();
        await pool.warm();
        const stats = pool.stats();
        expect(stats.failedCreates).toBeGreaterThanOrEqual(1);
        expect(stats.lastErrorCode).toBe(status === 429 ? "rate_limited" : "api_error");
        // Pauses of 100, 200 and 400 ms between the failures: it waited, it did not spin.
        expect(Date.now() - started).toBeGreaterThanOrEqual(100 * (2 ** stats.failedCreates - 1) - 50);
        const sandbox = await pool.acquire();
        expect((await sandbox.exec("echo recovered")).stdout).toBe("recovered\n");
        await pool.release(sandbox);
      } finally {
        await pool.close();
      }
      expect(await remaining(counting.plain, counting.names)).toEqual([]);
    }, 60_000);
  }

  it("rejects bad options before any request, and waiting callers on close()", async () => {
    const counting = countingApi();
    expect(() => createSandboxPool(poolOptions(counting.api, { size: -1 }))).toThrow(/size/);
    expect(() => createSandboxPool(poolOptions(counting.api, { size: 3, max: 2 }))).toThrow(/max/);
    expect(() =>
      createSandboxPool({ ...poolOptions(counting.api), vm: "x" } as unknown as SandboxPoolOptions),
    ).toThrow(/not vm/);
    expect(() => createSandboxPool(poolOptions(counting.api, { create: { cpu: -3 } }))).toThrow();
    expect(counting.names.size).toBe(0);
    const pool = createSandboxPool(poolOptions(counting.api, { size: 0, max: 1 }));
    const first = await pool.acquire();
    const second = expectSandboxError(pool.acquire(), "closed");
    await expectSandboxError(pool.acquire({ timeoutMs: 50 }), "timeout");
    await pool.close();
    await second;
    await expectSandboxError(first.exec("true"), "closed");
    expect(await remaining(counting.plain, counting.names)).toEqual([]);
  });
});
