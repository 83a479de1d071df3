import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { ACCOUNT_EMAIL } from "./commands/account.js";
import { shareOf } from "./commands/vm-record.js";
import type { StateStore } from "./state-store.js";
import { authenticateVmToken, bearerToken, type VmCaller } from "./token-auth.js";

/** The user id the app sees for the emulator's one account (`X-ExeDev-UserID`). */
export const ACCOUNT_USER_ID = "emulator-user";
/** Ports served on their own URL besides the proxy port, as on exe.dev. */
const PORT_RANGE = { min: 3000, max: 9999 };
const RESERVED_PREFIX = "/__exe.dev/";
// Headers only the proxy may set: a client sending them must not speak for the proxy.
const PROXY_SET_HEADERS = [
  "x-exedev-authorization",
  "x-exedev-userid",
  "x-exedev-email",
  "x-exedev-token-ctx",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-for",
];

/** What a Host header names: a VM and, for the main URL, no port. */
interface Route {
  vm: string;
  port: number | undefined;
}

/**
 * Routes by Host: `<vm>.localhost[:P]` (main URL), `<port>.<vm>.localhost[:P]`, and exe.dev's own
 * `<vm>.exe.xyz` (main) and `<vm>.exe.xyz:<port>` (a port other than this listener's).
 */
function routeOf(host: string | undefined, listenerPort: number): Route | undefined {
  const match = /^([a-z0-9.-]+?)(?::(\d+))?$/.exec((host ?? "").toLowerCase());
  if (!match) return undefined;
  const [, name = "", hostPort] = match;
  const local = /^(?:(\d+)\.)?([a-z][a-z0-9-]*)\.localhost$/.exec(name);
  if (local) return { vm: local[2]!, port: local[1] === undefined ? undefined : Number(local[1]) };
  const exe = /^([a-z][a-z0-9-]*)\.exe\.xyz$/.exec(name);
  if (!exe) return undefined;
  const port = hostPort === undefined ? undefined : Number(hostPort);
  const main = port === undefined || port === listenerPort || port === 443 || port === 80;
  return { vm: exe[1]!, port: main ? undefined : port };
}

function plain(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) {
  if (response.headersSent) return;
  response.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", ...headers });
  response.end(`${text}\n`);
}

/** The VM token of a request: `X-Exedev-Authorization: Bearer`, else `Authorization` Bearer or Basic (password). */
function tokenOf(request: IncomingMessage): { token?: string; viaAuthorization: boolean } {
  const exe = request.headers["x-exedev-authorization"];
  if (typeof exe === "string") {
    const token = bearerToken(exe);
    return token === undefined ? { viaAuthorization: false } : { token, viaAuthorization: false };
  }
  const authorization = request.headers.authorization;
  if (authorization === undefined) return { viaAuthorization: false };
  const bearer = bearerToken(authorization);
  if (bearer !== undefined) return { token: bearer, viaAuthorization: true };
  const basic = /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (!basic) return { viaAuthorization: true };
  const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  const password = colon === -1 ? "" : decoded.slice(colon + 1).trim();
  return password === "" ? { viaAuthorization: true } : { token: password, viaAuthorization: true };
}

function loginPage(response: ServerResponse, url: URL): void {
  const redirect = url.searchParams.get("redirect") ?? "/";
  response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
  response.end(
    `<!doctype html><title>exe.dev emulator login</title><p>This VM is private. The emulator has no browser login: ` +
      `reach it with a VM token (X-Exedev-Authorization: Bearer &lt;token&gt;), or make it public with ` +
      `<code>share set-public</code>. You wanted <code>${redirect.replace(/[<>&"]/g, "")}</code>.</p>\n`,
  );
}

/**
 * The emulator's stand-in for exe.dev's HTTPS proxy (exe-dev.md §4.5, §5.6), on loopback HTTP.
 * A VM's port N is 127.0.0.1:N on this machine (VMs are local processes and share its ports).
 * Private by default: a valid VM token passes, API clients that fail get 401, browsers are
 * redirected to a login page; `share set-public` opens the main port only.
 */
export function createVmProxy(options: { store: StateStore; listenerPort: () => number }): Server {
  const { store } = options;
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const route = routeOf(request.headers.host, options.listenerPort());
    if (!route) return plain(response, 404, "unknown host: use <vm>.localhost or <port>.<vm>.localhost");
    const vm = store.vm(route.vm);
    if (!vm) return plain(response, 404, `no VM named ${route.vm}`);
    const share = shareOf(vm);
    const port = route.port ?? share.port;
    if (
      route.port !== undefined &&
      route.port !== share.port &&
      (port < PORT_RANGE.min || port > PORT_RANGE.max)
    ) {
      return plain(response, 404, `port ${port} is not served: only the proxy port and ports 3000-9999 are`);
    }
    const url = new URL(request.url ?? "/", "http://vm.invalid");
    if (url.pathname.startsWith(RESERVED_PREFIX)) {
      if (url.pathname === `${RESERVED_PREFIX}login`) return loginPage(response, url);
      return plain(response, 404, "not found");
    }
    const exeHeader = request.headers["x-exedev-authorization"];
    if (exeHeader !== undefined && exeHeader === request.headers.authorization) {
      return plain(response, 400, "send the token in X-Exedev-Authorization or Authorization, not both");
    }
    const { token, viaAuthorization } = tokenOf(request);
    const caller: VmCaller | undefined =
      token === undefined ? undefined : authenticateVmToken(token, store, vm.name);
    // exe.dev's set-public opens the main URL only; a port URL stays private, even the proxy port's.
    const isPublic = share.public && route.port === undefined;
    if (!caller && !isPublic) {
      const apiClient = exeHeader !== undefined || request.headers.authorization !== undefined;
      if (apiClient) {
        return plain(response, 401, "unauthorized", { "WWW-Authenticate": "Bearer, Basic" });
      }
      const back = encodeURIComponent(`${url.pathname}${url.search}`);
      return plain(response, 307, "login required", { Location: `${RESERVED_PREFIX}login?redirect=${back}` });
    }
    forward(request, response, port, caller, viaAuthorization && caller !== undefined);
  };
  return createServer((request, response) => {
    try {
      handle(request, response);
    } catch {
      plain(response, 500, "internal error");
    }
  });
}

function forward(
  request: IncomingMessage,
  response: ServerResponse,
  port: number,
  caller: VmCaller | undefined,
  dropAuthorization: boolean,
): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || PROXY_SET_HEADERS.includes(name)) continue;
    if (name === "authorization" && dropAuthorization) continue;
    headers[name] = value;
  }
  headers["x-forwarded-proto"] = "http";
  headers["x-forwarded-host"] = request.headers.host ?? "";
  headers["x-forwarded-for"] = request.socket.remoteAddress ?? "127.0.0.1";
  if (caller) {
    headers["x-exedev-userid"] = ACCOUNT_USER_ID;
    headers["x-exedev-email"] = ACCOUNT_EMAIL;
    if (caller.ctx !== undefined) headers["x-exedev-token-ctx"] = JSON.stringify(caller.ctx);
  }
  const upstream = httpRequest(
    { host: "127.0.0.1", port, method: request.method, path: request.url, headers },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      answer.pipe(response);
      answer.on("error", () => response.destroy());
    },
  );
  upstream.on("error", () => {
    if (response.headersSent) response.destroy();
    else plain(response, 502, `nothing answers on the VM's port ${port}`);
  });
  request.on("error", () => upstream.destroy());
  response.on("close", () => {
    if (!response.writableFinished) upstream.destroy();
  });
  request.pipe(upstream);
}
