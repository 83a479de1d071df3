import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { inspectToken, splitLobbyWords, type TokenPermissions, verifyToken } from "@exedev-sandbox/core";
import { type CommandReply, EMULATOR_COMMANDS, type LobbyCommands } from "./lobby-commands.js";
import type { StateStore } from "./state-store.js";

/** Bodies larger than this get 413, as on exe.dev. */
const MAX_BODY_BYTES = 65_536;
/** exe.dev's default `cmds` for a token that names none. */
const DEFAULT_CMDS = ["help", "ls", "new", "whoami", "ssh-key list", "share show", "exe0-to-exe1"];
/** Per-key token bucket, as exe.dev's: burst 60, one more per second. */
const BUCKET_SIZE = 60;
const REFILL_PER_MS = 1 / 1000;

/** Faults the HTTP API can inject. */
export interface ApiFaults {
  failNext?: { count: number; status: number };
}

function send(
  response: ServerResponse,
  status: number,
  lines: unknown[],
  headers: Record<string, string> = {},
): void {
  const body = `${lines.map((line) => JSON.stringify(line)).join("\n")}\n`;
  response.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
    ...headers,
  });
  response.end(body);
}

function readBody(request: IncomingMessage): Promise<Buffer | "too-large"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve("too-large");
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** Longest known command path at the start of the words (`ssh-key list`, `ls`, …). */
function resolveCommand(words: readonly string[]): { command: string; args: string[] } | undefined {
  const [first = "", second = ""] = words;
  if (`${first} ${second}` in EMULATOR_COMMANDS)
    return { command: `${first} ${second}`, args: words.slice(2) };
  if (first in EMULATOR_COMMANDS) return { command: first, args: words.slice(1) };
  return undefined;
}

/** exe.dev's `POST /exec`: bearer exe0 tokens, lobby commands, JSON lines, its status codes. */
export function createHttpApi(store: StateStore, commands: LobbyCommands, faults: ApiFaults): Server {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const allow = (fingerprint: string): boolean => {
    const now = Date.now();
    const bucket = buckets.get(fingerprint) ?? { tokens: BUCKET_SIZE, at: now };
    bucket.tokens = Math.min(BUCKET_SIZE, bucket.tokens + (now - bucket.at) * REFILL_PER_MS);
    bucket.at = now;
    buckets.set(fingerprint, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };
  const keyList = () =>
    store.keys().map((key) => ({
      public_key: key.publicKey,
      fingerprint: key.fingerprint,
      name: key.name,
      added_at: key.addedAt,
      last_used_at: key.lastUsedAt ?? null,
      current: false,
    }));

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    if (request.url?.split("?")[0] !== "/exec") return send(response, 404, [{ error: "not found" }]);
    if (request.method !== "POST")
      return send(response, 405, [{ error: "method not allowed" }], { Allow: "POST" });
    const failNext = faults.failNext;
    if (failNext && failNext.count > 0) {
      failNext.count--;
      await readBody(request);
      return send(response, failNext.status, [{ error: "injected fault" }]);
    }
    const unauthorized = () =>
      send(response, 401, [{ error: "invalid token" }], { "WWW-Authenticate": "Bearer" });
    const match = /^bearer\s+(.+)$/i.exec(request.headers.authorization ?? "");
    if (!match?.[1]) return unauthorized();
    const token = match[1].trim();
    let permissions: TokenPermissions;
    let fingerprint: string;
    try {
      const inspected = inspectToken(token);
      const key = store.keyByFingerprint(inspected.fingerprint);
      if (!key) return unauthorized();
      permissions = verifyToken(token, key.publicKey, { namespace: "v0@exe.dev" }).permissions;
      fingerprint = key.fingerprint;
    } catch {
      return unauthorized();
    }
    if (!allow(fingerprint)) return send(response, 429, [{ error: "rate limit exceeded" }]);
    store.touchKey(fingerprint);
    const body = await readBody(request);
    if (body === "too-large") return send(response, 413, [{ error: "request body too large" }]);
    const line = body.toString("utf8").trim();
    if (line === "") return send(response, 400, [{ error: "empty command" }]);
    if (line.includes("\0")) return send(response, 400, [{ error: "command contains a NUL byte" }]);
    let words: string[];
    try {
      words = splitLobbyWords(line);
    } catch {
      return send(response, 400, [{ error: "invalid command syntax" }]);
    }
    const resolved = resolveCommand(words);
    if (!resolved) return send(response, 404, [{ error: "unknown command" }]);
    if (!(permissions.cmds ?? DEFAULT_CMDS).includes(resolved.command)) {
      return send(response, 403, [{ error: "command not allowed by token permissions" }]);
    }
    let reply: CommandReply;
    try {
      reply = commands.run(resolved.command, resolved.args, keyList);
    } catch {
      reply = { status: 500, lines: [{ error: `"${resolved.command}": internal error` }] };
    }
    send(response, reply.status, reply.lines);
  };

  return createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) send(response, 500, [{ error: "internal error" }]);
      else response.destroy();
    });
  });
}
