import { type LobbyServer, startLobbyServer } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteVm } from "./delete-vm.js";
import { createExeDevApi } from "./exe-dev-api.js";
import { withTestKnobs } from "./test-knobs.js";

let server: LobbyServer;
beforeAll(async () => {
  server = await startLobbyServer();
});
afterAll(() => server.close());

describe("deleteVm", () => {
  it("deletes a VM, succeeds again once it is gone, and fails when exe.dev keeps it", async () => {
    const api = createExeDevApi(
      withTestKnobs({ token: server.token, baseUrl: server.url, retryBaseDelayMs: 5 }),
    );
    await api.newVm({ name: "doomed-box" });
    await deleteVm(api, "doomed-box");
    expect(server.vms.has("doomed-box")).toBe(false);
    await deleteVm(api, "doomed-box");

    await api.newVm({ name: "locked-box" });
    server.intercept = (request) =>
      request.words[0] === "rm"
        ? {
            status: 200,
            lines: true,
            body: [{ error: 'vm "locked-box" is locked' }, { deleted: [], failed: ["locked-box"] }],
          }
        : undefined;
    await expect(deleteVm(api, "locked-box")).rejects.toMatchObject({
      code: "api_error",
      message: 'exe.dev could not delete VM locked-box: vm "locked-box" is locked.',
      details: { vm: "locked-box" },
    });
    expect(server.vms.has("locked-box")).toBe(true);
  });
});
