import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { generateSshKeyPair, inspectToken } from "@exedev-sandbox/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DRIVER_KEY } from "./manifest.js";
import { createExeDevPlugin } from "./plugin.js";

// exe.dev's answer to `ls <vm>`, as documented: the only API call the ingress hook makes.
const VM_RECORD = {
  vm_name: "pclip-ingress-1",
  ssh_dest: "pclip-ingress-1.exe.xyz",
  status: "running",
  https_url: "https://pclip-ingress-1.exe.xyz",
  proxy_port: 8000,
};

describe("runner ingress", () => {
  let server: Server;
  let apiUrl: string;
  const key = generateSshKeyPair("ingress-test");
  const ingress = createExeDevPlugin({ env: {} }).definition.onEnvironmentRunnerIngressEndpoint!;
  const params = (port: number, config: Record<string, unknown> = {}) => ({
    driverKey: DRIVER_KEY,
    companyId: "company-1",
    environmentId: "env-1",
    config: { apiKey: "exe0.dG9rZW4.c2ln", apiUrl, privateKey: key.privateKey, ...config },
    lease: { providerLeaseId: VM_RECORD.vm_name },
    port,
    path: "/runner/ws",
  });

  beforeAll(async () => {
    server = createServer((_request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(`${JSON.stringify({ vms: [VM_RECORD] })}\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("points at the VM's proxy with a short-lived token for that VM, signed by the configured key", async () => {
    const before = Math.floor(Date.now() / 1000);
    const endpoint = await ingress(params(3001));
    expect(endpoint).toMatchObject({
      kind: "authenticated_websocket",
      websocketUrl: "wss://pclip-ingress-1.exe.xyz:3001/runner/ws",
    });
    const [header] = endpoint.secretHeaders;
    expect(header?.name).toBe("X-Exedev-Authorization");
    const token = inspectToken(header!.value.replace(/^Bearer /, ""));
    expect(token.namespace).toBe("v0@pclip-ingress-1.exe.xyz");
    expect(token.publicKey).toBe(key.publicKey.split(" ").slice(0, 2).join(" "));
    expect(token.permissions.exp).toBeGreaterThanOrEqual(before + 3600);
    expect(endpoint.generation).toBe(String(token.permissions.exp));
    expect((await ingress(params(8000))).websocketUrl).toBe("wss://pclip-ingress-1.exe.xyz/runner/ws");
  });

  it("refuses ports the proxy cannot reach, and works only with a key to sign with", async () => {
    await expect(ingress(params(22))).rejects.toThrow(/ports 3000-9999 only, not 22/);
    await expect(ingress(params(3001, { privateKey: undefined }))).rejects.toThrow(
      /needs privateKey or identityFile/,
    );
  });
});
