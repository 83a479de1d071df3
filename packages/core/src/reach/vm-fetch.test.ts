import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expectSandboxError } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSandboxError } from "../errors.js";
import { generateSshKeyPair } from "../ssh/key-pair.js";
import { verifyToken } from "../token/verify-token.js";
import { createVmFetch } from "./vm-fetch.js";
import { vmUrl } from "./vm-url.js";

const pair = generateSshKeyPair("vm-fetch-test");

describe("createVmFetch over a real local server (a *.localhost URL, connected on 127.0.0.1)", () => {
  let server: Server;
  let port: number;
  const seen: Array<{ url: string; method: string; headers: IncomingHttpHeaders; body: string }> = [];
  let keyReads = 0;
  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        seen.push({ url: request.url ?? "", method: request.method ?? "", headers: request.headers, body });
        if (request.url === "/drop") return request.socket.destroy();
        if (request.url === "/moved") {
          response.writeHead(302, { Location: "https://elsewhere.example/" });
          return response.end();
        }
        response.writeHead(201, { "Content-Type": "text/plain", "Set-Cookie": ["a=1", "b=2"] });
        response.end(`hello ${request.method} ${request.url}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const vm = () => ({
    name: "my-project-vm",
    httpsUrl: `http://my-project-vm.localhost:${port}/`,
    proxyPort: 8000,
  });
  const vmFetch = () =>
    createVmFetch({
      vm: "my-project-vm",
      url: (p) => vmUrl(vm(), p),
      signingKey: () => {
        keyReads++;
        return { privateKey: pair.privateKey };
      },
    });

  it("sends a VM token for v0@<vm>.exe.xyz, the Host of the URL, the method and the body", async () => {
    const fetchVm = vmFetch();
    const response = await fetchVm(8000, "/api/items?x=1", { method: "POST", body: "payload" });
    expect(response.status).toBe(201);
    expect(await response.text()).toBe("hello POST /api/items?x=1");
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    const request = seen.at(-1)!;
    expect(request.headers.host).toBe(`my-project-vm.localhost:${port}`);
    expect(request.body).toBe("payload");
    const auth = String(request.headers["x-exedev-authorization"]);
    expect(auth).toMatch(/^Bearer exe0\./);
    const info = verifyToken(auth.slice(7), pair.publicKey, { namespace: "v0@my-project-vm.exe.xyz" });
    expect(info.permissions.exp).toBeGreaterThan(Date.now() / 1000 + 250);

    await fetchVm(3456, "/other");
    expect(seen.at(-1)!.headers.host).toBe(`3456.my-project-vm.localhost:${port}`);
    expect(seen.at(-1)!.headers["x-exedev-authorization"]).toBe(auth); // cached token
  });

  it("mints a new token for another lifetime", async () => {
    const fetchVm = vmFetch();
    await fetchVm(8000, "/a");
    await fetchVm(8000, "/b", { tokenTtlMs: 60_000 });
    const [first, second] = seen.slice(-2).map((r) => String(r.headers["x-exedev-authorization"]));
    expect(first).not.toBe(second);
  });

  it("returns redirects as they are, never following them", async () => {
    const response = await vmFetch()(8000, "/moved");
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("https://elsewhere.example/");
  });

  it("turns a dropped connection into connection_failed without the token", async () => {
    const error = await vmFetch()(8000, "/drop").catch((e: unknown) => e);
    expect(isSandboxError(error, "connection_failed")).toBe(true);
    const token = String(seen.at(-1)!.headers["x-exedev-authorization"]).slice(7);
    const text = `${(error as Error).message} ${JSON.stringify(error)} ${String((error as Error).cause)}`;
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.slice(10, 40));
  });

  it("checks port, path and init before any request or key read", async () => {
    const before = { requests: seen.length, keys: keyReads };
    const fetchVm = vmFetch();
    const bad: Array<[number, unknown, unknown]> = [
      [22, "/", undefined],
      [8000.5, "/", undefined],
      [8000, "no-slash", undefined],
      [8000, "//evil.example/", undefined],
      [8000, "/a b", undefined],
      [8000, "/", null],
      [8000, "/", { tokenTtlMs: 5 }],
      [8000, "/", { redirect: "follow" }],
      [8000, "/", { headers: { "X-Exedev-Authorization": "Bearer mine" } }],
    ];
    for (const [p, path, init] of bad) {
      await expectSandboxError(fetchVm(p, path as string, init as never), "invalid_argument");
    }
    expect({ requests: seen.length, keys: keyReads }).toEqual(before);
  });
});
