import { describe, expect, it } from "vitest";
import { createExeDevApi } from "./api/exe-dev-api.js";
import { generateVmName } from "./api/vm-name.js";
import { createExeDevSandbox } from "./exedev-sandbox.js";

// Real exe.dev: creates VMs on the account behind EXE_API_TOKEN and deletes them again.
// Needs cmds new, ls, rm, cp in the token and an SSH key the account knows (EXE_SSH_KEY,
// the agent or ~/.ssh/id_*).
describe.skipIf(!process.env.EXE_API_TOKEN && !process.env.EXE_API_KEY)("exe.dev live", () => {
  it("creates, runs, clones and deletes, leaving nothing behind", async () => {
    const api = createExeDevApi();
    const prefix = generateVmName("live").slice(0, 12);
    const base = await createExeDevSandbox({ api, create: { name: `${prefix}-base`, noEmail: true } });
    try {
      expect((await base.exec("echo hello-from-exe")).stdout).toBe("hello-from-exe\n");
      await base.writeFile(`${base.homeDir}/marker.txt`, "cloned content");
      const clone = await createExeDevSandbox({ api, cloneFrom: base.vm.name });
      try {
        expect(await clone.readFile(`${clone.homeDir}/marker.txt`)).toBe("cloned content");
      } finally {
        await clone.dispose();
      }
    } finally {
      await base.dispose();
    }
    const left = await api.listVms(`${prefix}*`);
    expect(left).toEqual([]);
  });
});
