// Test helper: a real HTTP server on loopback that speaks exe.dev's `/exec` shapes and status
// codes, so the client is tested over the wire rather than against a mocked fetch.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseLobbyArgs, splitLobbyWords } from "./lobby-words.ts";

/** One request the server received. */
export interface LobbyRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body split by the lobby's lexer; empty when it could not be split. */
  words: string[];
}

/** What the server answers. */
export interface LobbyReply {
  status: number;
  /** A JSON value (one line), an array of values (one line each, with `lines: true`) or raw text. */
  body?: unknown;
  lines?: boolean;
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Drop the connection instead of answering. */
  destroy?: boolean;
}

/** A VM the server keeps, plus what it was created with (for assertions). */
export interface StoredVm {
  record: Record<string, unknown>;
  env: Record<string, string>;
  setupScript?: string;
  prompt?: string;
}

/** Options for {@link startLobbyServer}. */
export interface LobbyServerOptions {
  /** The bearer token accepted. @default "exe0.test-token" */
  token?: string;
  /** `host`: `ssh_dest` is `<name>.exe.xyz`; `gateway`: `vm+<name>@gw.example.test` plus ssh_host/ssh_user. @default "host" */
  sshStyle?: "host" | "gateway";
  /** `cp`'s answer shape. @default "new" */
  cpShape?: "new" | "may-2026";
}

/** A running fake lobby. */
export interface LobbyServer {
  url: string;
  token: string;
  requests: LobbyRequest[];
  vms: Map<string, StoredVm>;
  /** Runs before the default handling; return a reply to answer with it, or undefined to continue. */
  intercept:
    | ((request: LobbyRequest) => LobbyReply | undefined | Promise<LobbyReply | undefined>)
    | undefined;
  /** The default handling of a split command, for interceptors that want its side effects. */
  execute(words: string[]): LobbyReply;
  /** Commands received, by first word. */
  count(command: string): number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 65_536;

/** The lobby's inline escape expansion for `--setup-script`: `\n`, `\t`, `\\`. */
function expandEscapes(value: string): string {
  return value.replace(/\\([nt\\])/g, (_, char: string) =>
    char === "n" ? "\n" : char === "t" ? "\t" : "\\",
  );
}

function globMatches(pattern: string, value: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replaceAll("*", ".*")
      .replaceAll("?", ".")}$`,
  );
  return regex.test(value);
}

/** Starts the fake lobby on 127.0.0.1 with an OS-chosen port. */
export async function startLobbyServer(options: LobbyServerOptions = {}): Promise<LobbyServer> {
  const token = options.token ?? "exe0.test-token";
  const vms = new Map<string, StoredVm>();
  const requests: LobbyRequest[] = [];
  const error = (status: number, message: string): LobbyReply => ({ status, body: { error: message } });

  const describe = (name: string, tags: string[]) => {
    const gateway = options.sshStyle === "gateway";
    const record: Record<string, unknown> = {
      vm_name: name,
      tags,
      ssh_command: gateway ? `ssh vm+${name}@gw.example.test` : `ssh ${name}.exe.xyz`,
      ssh_dest: gateway ? `vm+${name}@gw.example.test` : `${name}.exe.xyz`,
      ssh_port: 22,
      https_url: `https://${name}.exe.xyz`,
      proxy_port: 8000,
      status: "running",
      region: "lax",
    };
    if (gateway) {
      record.ssh_host = "gw.example.test";
      record.ssh_user = `vm+${name}`;
    }
    return record;
  };

  const execute = (words: string[]): LobbyReply => {
    const [command = "", ...rest] = words;
    const { positionals, flags } = parseLobbyArgs(rest);
    const flag = (name: string) => flags.get(name)?.at(-1);
    switch (command) {
      case "new": {
        if (positionals.length > 0) return error(422, `unexpected argument "${positionals[0]}"`);
        const name = flag("name") ?? `word-${vms.size + 1}x`;
        if (vms.has(name)) return error(422, `VM name "${name}" is not available`);
        const tags = [...new Set((flags.get("tag") ?? []).flatMap((tag) => tag.split(",")))].sort();
        const env = Object.fromEntries(
          (flags.get("env") ?? []).map((pair) => [
            pair.slice(0, pair.indexOf("=")),
            pair.slice(pair.indexOf("=") + 1),
          ]),
        );
        const script = flag("setup-script");
        const stored: StoredVm = { record: describe(name, tags), env };
        if (script !== undefined) stored.setupScript = expandEscapes(script);
        const prompt = flag("prompt");
        if (prompt !== undefined) stored.prompt = prompt;
        vms.set(name, stored);
        return { status: 200, body: stored.record };
      }
      case "ls": {
        const matches = [...vms.values()].filter(
          ({ record }) =>
            positionals.length === 0 ||
            positionals.some(
              (pattern) =>
                globMatches(pattern, String(record.vm_name)) ||
                (record.tags as string[]).some((tag) => globMatches(pattern, tag)),
            ),
        );
        return {
          status: 200,
          body: {
            vms: matches.map(({ record }) => {
              const { ssh_command: _command, proxy_port: _port, ...entry } = record;
              return (entry.tags as string[]).length === 0 ? { ...entry, tags: undefined } : entry;
            }),
          },
        };
      }
      case "rm": {
        if (positionals.length === 0) return error(422, "usage: rm <vm>...");
        const lines: unknown[] = [];
        const deleted: string[] = [];
        const failed: string[] = [];
        for (const name of positionals) {
          if (vms.delete(name)) deleted.push(name);
          else {
            failed.push(name);
            lines.push({ error: `vm "${name}" not found` });
          }
        }
        return { status: 200, lines: true, body: [...lines, { deleted, failed }] };
      }
      case "cp": {
        const [source, target = `copy-${vms.size + 1}x`] = positionals;
        const original = source === undefined ? undefined : vms.get(source);
        if (!original) return error(422, `vm "${source}" not found`);
        if (vms.has(target)) return error(422, `name "${target}" is not available`);
        const tags = flag("copy-tags") === "false" ? [] : (original.record.tags as string[]);
        const stored: StoredVm = { record: describe(target, tags), env: {} };
        vms.set(target, stored);
        if (options.cpShape === "may-2026") {
          return {
            status: 200,
            body: { name: target, state: "starting", source, ssh: stored.record.ssh_dest, elapsed: 1.5 },
          };
        }
        return { status: 200, body: stored.record };
      }
      case "tag": {
        // `-d` is read from the raw words: it takes no value, unlike the lobby's other flags.
        const remove = rest[0] === "-d";
        const [name = "", ...changed] = remove ? rest.slice(1) : positionals;
        const stored = vms.get(name);
        if (!stored) return error(422, `vm "${name}" not found`);
        const current = stored.record.tags as string[];
        const tags = remove
          ? current.filter((tag) => !changed.includes(tag))
          : [...new Set([...current, ...changed])].sort();
        stored.record = { ...stored.record, tags };
        return { status: 200, body: { vm_name: name, tags } };
      }
      case "restart": {
        const name = positionals[0] ?? "";
        if (!vms.has(name)) return error(422, `vm "${name}" not found`);
        return { status: 200, body: { vm_name: name, status: "restarted" } };
      }
      case "whoami":
        return {
          status: 200,
          body: {
            email: "dev@example.test",
            region: "lax",
            region_display: "Los Angeles",
            ssh_keys: [
              { public_key: "ssh-ed25519 AAAA", fingerprint: "SHA256:abc", name: "laptop", current: true },
            ],
          },
        };
      case "echo":
        // Not an exe.dev command: hands the words back so tests can see exactly what arrived.
        return { status: 200, body: { words } };
      default:
        return error(404, "unknown command");
    }
  };

  const send = (response: ServerResponse, reply: LobbyReply) => {
    const text =
      reply.body === undefined
        ? ""
        : typeof reply.body === "string"
          ? reply.body
          : reply.lines && Array.isArray(reply.body)
            ? reply.body.map((item) => JSON.stringify(item)).join("\n")
            : JSON.stringify(reply.body);
    response.writeHead(reply.status, {
      "content-type": "application/json; charset=utf-8",
      "x-content-type-options": "nosniff",
      ...reply.headers,
    });
    response.end(text === "" ? "" : `${text}\n`);
  };

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString("utf8");
      let words: string[] = [];
      let syntaxError = false;
      try {
        words = splitLobbyWords(body.trim());
      } catch {
        syntaxError = true;
      }
      const entry: LobbyRequest = {
        method: request.method ?? "",
        path: request.url ?? "",
        headers: request.headers,
        body,
        words,
      };
      requests.push(entry);
      const reply =
        (await lobby.intercept?.(entry)) ??
        (() => {
          if (entry.method !== "POST")
            return { ...error(405, "method not allowed"), headers: { allow: "POST" } };
          if (entry.path !== "/exec") return error(404, "not found");
          const auth = /^bearer\s+(.*)$/i.exec(request.headers.authorization ?? "");
          if (!auth || auth[1]!.trim() !== token) {
            return { ...error(401, "invalid token"), headers: { "www-authenticate": "Bearer" } };
          }
          if (raw.length > MAX_BODY_BYTES) return error(413, "request body too large");
          if (body.trim() === "") return error(400, "empty command");
          if (body.includes("\0")) return error(400, "command contains NUL byte");
          if (syntaxError) return error(400, "invalid command syntax");
          return execute(words);
        })();
      if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
      if (reply.destroy) {
        request.socket.destroy();
        return;
      }
      if (!response.destroyed) send(response, reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const lobby: LobbyServer = {
    url: `http://127.0.0.1:${port}`,
    token,
    requests,
    vms,
    intercept: undefined,
    execute,
    count: (command) => requests.filter((request) => request.words[0] === command).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return lobby;
}

/**
 * Makes every VM the lobby creates, clones or lists reachable through `sshd` (the gateway form
 * exe.dev uses: `ssh_host`/`ssh_port`/`ssh_user`), so lifecycle code can be tested end to end
 * against a real OpenSSH server.
 */
export function routeLobbyToSshd(
  lobby: LobbyServer,
  sshd: { host: string; port: number; username: string },
): void {
  const pointAtSshd = (record: Record<string, unknown>) => ({
    ...record,
    ssh_host: sshd.host,
    ssh_port: sshd.port,
    ssh_user: sshd.username,
    ssh_dest: `${sshd.username}@${sshd.host}`,
  });
  lobby.intercept = (request) => {
    const [command] = request.words;
    if (command !== "new" && command !== "cp" && command !== "ls") return undefined;
    const reply = lobby.execute(request.words);
    if (reply.status !== 200 || typeof reply.body !== "object" || reply.body === null) return reply;
    const body = reply.body as Record<string, unknown>;
    if (Array.isArray(body.vms)) return { ...reply, body: { vms: body.vms.map(pointAtSshd) } };
    return { ...reply, body: pointAtSshd(body) };
  };
}
