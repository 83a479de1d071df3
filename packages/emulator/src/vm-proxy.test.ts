// The emulator's HTTP proxy with a raw HTTP client: routing by Host, exe.dev's privacy rules,
// the VM-token check, and what the app behind it receives.
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import { join } from "node:path";
import { generateSshKeyPair, mintVmToken } from "@exedev-sandbox/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "./index.js";
import { listenInPortRange, post } from "./test-helpers.js";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request to the proxy on 127.0.0.1, with whatever Host and headers the test wants. */
function raw(
  emulator: Emulator,
  host: string,
  path = "/",
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: "127.0.0.1", port: emulator.proxyPort, path, method, headers: { ...headers, host } },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          body += chunk;
        });
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    outgoing.on("error", reject);
    outgoing.end();
  });
}

/** A server on a free port in 3000–9999 (the range exe.dev serves), answering with what it received. */
async function startEchoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
  return { server, port: await listenInPortRange(server) };
}

describe("the emulator's VM proxy", () => {
  let emulator: Emulator;
  let main: { server: Server; port: number };
  let other: { server: Server; port: number };
  let ownKey: string;
  const vm = "proxy-test-vm";
  const host = () => `${vm}.localhost:${emulator.proxyPort}`;
  const token = (name = vm) => mintVmToken(name, { privateKey: ownKey });
  const exec = async (body: string) => {
    const answer = await post(emulator, body, { token: emulator.createToken() });
    expect(answer.status, `${body}: ${answer.text}`).toBe(200);
    return answer.lines[0]!;
  };
  const echoed = (answer: Answer) => JSON.parse(answer.body) as { url: string; headers: IncomingHttpHeaders };

  beforeAll(async () => {
    emulator = await startEmulator();
    ownKey = readFileSync(join(emulator.dataDir, "emulator_ed25519"), "utf8");
    [main, other] = [await startEchoServer(), await startEchoServer()];
    await exec(`new --name=${vm}`);
    await exec(`new --name=other-proxy-vm`);
    await exec(`share port ${vm} ${main.port}`);
  });
  afterAll(async () => {
    await emulator?.stop();
    main?.server.close();
    other?.server.close();
  });

  it("share commands answer exe.dev's JSON shapes; 422 for unknown VMs, emails and links", async () => {
    const name = "share-shape-vm";
    await exec(`new --name=${name}`);
    const url = `http://${name}.localhost:${emulator.proxyPort}/`;
    expect(await exec(`share show ${name}`)).toEqual({
      vm_name: name,
      status: "private",
      port: 8000,
      url,
      users: [],
      links: [],
      teams: [],
      team_access: false,
      team_ssh: false,
      team_shelley: false,
    });
    expect(await exec(`share port ${name}.exe.xyz 3000`)).toEqual({
      vm_name: name,
      port: 3000,
      share: "private",
    });
    expect(await exec(`share set-public ${name}`)).toEqual({ vm_name: name, status: "public" });
    expect(await exec(`share add ${name} Friend@Example.com`)).toEqual({
      vm_name: name,
      email: "friend@example.com",
      status: "shared",
    });
    const link = await exec(`share add-link ${name}`);
    expect(link).toEqual({
      vm_name: name,
      token: expect.stringMatching(/^[\w-]{22}$/),
      url: `${url}?share=${link.token}`,
    });
    const shown = await exec(`share show ${name}`);
    expect(shown).toMatchObject({ status: "public", port: 3000, users: [{ email: "friend@example.com" }] });
    expect(shown.links).toEqual([{ token: link.token, url: link.url, created_at: expect.any(String) }]);
    // A clone keeps the route (port, public), not the shares.
    await exec(`cp ${name} share-clone-vm`);
    expect(await exec("share show share-clone-vm")).toMatchObject({
      status: "public",
      port: 3000,
      users: [],
      links: [],
    });
    expect(await exec(`share remove-link ${name} ${link.token}`)).toEqual({
      vm_name: name,
      token: link.token,
      status: "removed",
    });
    expect(await exec(`share remove ${name} friend@example.com`)).toMatchObject({ status: "removed" });
    expect(await exec(`share set-private ${name}`)).toEqual({ vm_name: name, status: "private" });
    for (const failing of [
      "share show no-such-vm",
      `share add ${name} not-an-email`,
      `share remove ${name} nobody@example.com`,
      `share remove-link ${name} nope`,
      `share port ${name} 0`,
      `share show ${name} extra`,
    ]) {
      const answer = await post(emulator, failing, { token: emulator.createToken() });
      expect(answer.status, failing).toBe(422);
    }
  });

  it("new and ls point https_url at the proxy", async () => {
    const created = await exec("new --name=proxy-url-vm");
    expect(created.https_url).toBe(`http://proxy-url-vm.localhost:${emulator.proxyPort}/`);
    expect(created.proxy_port).toBe(8000);
    const listed = (await exec("ls proxy-url-vm")).vms as Array<Record<string, unknown>>;
    expect(listed[0]!.https_url).toBe(`http://proxy-url-vm.localhost:${emulator.proxyPort}/`);
  });

  it("redirects a browser without credentials to the login page, and serves it", async () => {
    const answer = await raw(emulator, host(), "/app?x=1");
    expect(answer.status).toBe(307);
    expect(answer.headers.location).toBe(`/__exe.dev/login?redirect=${encodeURIComponent("/app?x=1")}`);
    const login = await raw(emulator, host(), "/__exe.dev/login?redirect=%2Fapp");
    expect(login.status).toBe(200);
    expect(login.body).toContain("private");
    expect(
      (await raw(emulator, host(), "/__exe.dev/auth", { "X-Exedev-Authorization": `Bearer ${token()}` }))
        .status,
    ).toBe(404);
  });

  it("answers API clients that fail with 401 and WWW-Authenticate: Bearer, Basic", async () => {
    const stranger = generateSshKeyPair();
    const expired = mintVmToken(vm, { privateKey: ownKey, exp: Math.floor(Date.now() / 1000) - 10 });
    for (const headers of <Array<Record<string, string>>>[
      { "X-Exedev-Authorization": "Bearer not-a-token" },
      { "X-Exedev-Authorization": `Bearer ${token("other-proxy-vm")}` },
      { "X-Exedev-Authorization": `Bearer ${mintVmToken(vm, { privateKey: stranger.privateKey })}` },
      { "X-Exedev-Authorization": `Bearer ${expired}` },
      { Authorization: `Bearer ${emulator.createToken()}` }, // an API token is not a VM token
      { Authorization: "Basic Zm9vOmJhcg==" },
    ]) {
      const answer = await raw(emulator, host(), "/", headers);
      expect(answer.status, JSON.stringify(headers).slice(0, 60)).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe("Bearer, Basic");
    }
  });

  it("passes a valid VM token, strips it, and tells the app who and where", async () => {
    const answer = await raw(emulator, host(), "/hello?q=1", {
      "X-Exedev-Authorization": `Bearer ${token()}`,
      "X-ExeDev-Email": "spoofed@example.com",
      "X-Forwarded-For": "10.9.8.7",
    });
    expect(answer.status).toBe(200);
    const { url, headers } = echoed(answer);
    expect(url).toBe("/hello?q=1");
    expect(headers["x-exedev-authorization"]).toBeUndefined();
    expect(headers).toMatchObject({
      host: host(),
      "x-forwarded-proto": "http",
      "x-forwarded-host": host(),
      "x-forwarded-for": "127.0.0.1",
      "x-exedev-userid": "emulator-user",
      "x-exedev-email": "you@emulator.local",
    });
    expect(headers["x-exedev-token-ctx"]).toBeUndefined();
    const withCtx = mintVmToken(vm, { privateKey: ownKey, ctx: { job: 7 } });
    const ctx = echoed(await raw(emulator, host(), "/", { "X-Exedev-Authorization": `Bearer ${withCtx}` }));
    expect(ctx.headers["x-exedev-token-ctx"]).toBe('{"job":7}');
  });

  it("takes the token from Authorization too (Bearer, or Basic with it as the password), and strips it", async () => {
    const bearer = await raw(emulator, host(), "/", { Authorization: `Bearer ${token()}` });
    expect(bearer.status).toBe(200);
    expect(echoed(bearer).headers.authorization).toBeUndefined();
    const basic = Buffer.from(`git:${token()}`).toString("base64");
    const viaBasic = await raw(emulator, host(), "/", { Authorization: `Basic ${basic}` });
    expect(viaBasic.status).toBe(200);
    expect(echoed(viaBasic).headers["x-exedev-email"]).toBe("you@emulator.local");
  });

  it("answers 400 when both headers carry the same value", async () => {
    const value = `Bearer ${token()}`;
    const answer = await raw(emulator, host(), "/", {
      "X-Exedev-Authorization": value,
      Authorization: value,
    });
    expect(answer.status).toBe(400);
  });

  it("routes <port>.<vm>.localhost and <vm>.exe.xyz[:port] Host headers, 3000–9999 only", async () => {
    const auth = { "X-Exedev-Authorization": `Bearer ${token()}` };
    const byPort = await raw(emulator, `${other.port}.${vm}.localhost:${emulator.proxyPort}`, "/p", auth);
    expect(byPort.status).toBe(200);
    expect(echoed(byPort).url).toBe("/p");
    expect((await raw(emulator, `${vm}.exe.xyz`, "/", auth)).status).toBe(200);
    expect((await raw(emulator, `${vm}.exe.xyz:${other.port}`, "/", auth)).status).toBe(200);
    expect((await raw(emulator, `80.${vm}.localhost:${emulator.proxyPort}`, "/", auth)).status).toBe(404);
    expect((await raw(emulator, `nope-vm.localhost:${emulator.proxyPort}`, "/", auth)).status).toBe(404);
    expect((await raw(emulator, "example.com", "/", auth)).status).toBe(404);
  });

  it("answers 502 when nothing listens on the VM's port", async () => {
    const closed = await startEchoServer();
    await new Promise((resolve) => closed.server.close(resolve));
    const answer = await raw(emulator, `${closed.port}.${vm}.localhost`, "/", {
      "X-Exedev-Authorization": `Bearer ${token()}`,
    });
    expect(answer.status).toBe(502);
  });

  it("share set-public opens the main port only; set-private closes it again", async () => {
    await exec(`share set-public ${vm}`);
    try {
      const open = await raw(emulator, host(), "/");
      expect(open.status).toBe(200);
      expect(echoed(open).headers["x-exedev-email"]).toBeUndefined();
      expect((await raw(emulator, `${other.port}.${vm}.localhost`, "/")).status).toBe(307);
      expect(
        (await raw(emulator, `${main.port}.${vm}.localhost`, "/", { Authorization: "Bearer x" })).status,
      ).toBe(401);
    } finally {
      await exec(`share set-private ${vm}`);
    }
    expect((await raw(emulator, host(), "/")).status).toBe(307);
  });
});
