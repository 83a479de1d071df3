import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type CommandContext, CommandFailure, type GatewayHandle } from "./commands/command.js";
import { resolveCommand, runCommand } from "./commands/index.js";
import type { FaultState } from "./faults.js";
import { FlagError } from "./flags.js";
import { CommandSyntaxError, splitCommandLine } from "./lexer.js";
import type { ProcessRunner } from "./process-runner.js";
import { RateLimiter } from "./rate-limiter.js";
import { parseSshArgs, type SshTarget, SshUsageError, sshAllowed, streamSshExec } from "./ssh-exec.js";
import type { StateStore } from "./state-store.js";
import { authenticate, bearerToken } from "./token-auth.js";

/** Bodies larger than this get 413, as on exe.dev. */
const MAX_BODY_BYTES = 65_536;

/** What the HTTP API works on. */
export interface HttpApiOptions {
  store: StateStore;
  processes: ProcessRunner;
  gateway: GatewayHandle;
  faults: FaultState;
}

type Body = { ok: true; bytes: Buffer } | { ok: false; status: 400 | 413 };

function send(
  response: ServerResponse,
  status: number,
  lines: unknown[],
  headers: Record<string, string> = {},
) {
  if (response.headersSent) return;
  response.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
    ...headers,
  });
  response.end(`${lines.map((line) => JSON.stringify(line)).join("\n")}\n`);
}

const error = (message: string) => [{ error: message }];

/** Reads the body up to the limit; past it, answers at once and discards the rest. */
function readBody(request: IncomingMessage): Promise<Body> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (body: Body): void => {
      if (settled) return;
      settled = true;
      resolve(body);
    };
    request.on("data", (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) settle({ ok: false, status: 413 });
      else chunks.push(chunk);
    });
    request.on("end", () => settle({ ok: true, bytes: Buffer.concat(chunks) }));
    request.on("error", () => settle({ ok: false, status: 400 }));
    request.on("aborted", () => settle({ ok: false, status: 400 }));
  });
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** The `newDelayMs` fault: `new` and `cp` take that long, as creating a real VM does. */
function creationDelay(command: string, ms: number): Promise<void> {
  if (ms <= 0 || (command !== "new" && command !== "cp")) return Promise.resolve();
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * exe.dev's `POST /exec`: a bearer exe0 token, the body a lobby command line, JSON lines out,
 * and its status codes (400 401 403 404 405 413 422 429 504).
 */
export function createHttpApi(options: HttpApiOptions): Server {
  const { store, faults } = options;
  const limiter = new RateLimiter();
  const pendingNames = new Set<string>();

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== "/exec") {
      request.resume();
      return send(response, 404, error("not found"));
    }
    if (request.method !== "POST") {
      request.resume();
      return send(response, 405, error("method not allowed"), { Allow: "POST" });
    }
    const injected = faults.takeApiFailure();
    if (injected !== undefined) {
      request.resume();
      return send(response, injected, error(`injected fault: HTTP ${injected}`));
    }
    const token = bearerToken(request.headers.authorization);
    const caller = token === undefined ? undefined : authenticate(token, store);
    if (!caller) {
      request.resume();
      return send(response, 401, error("invalid token"), { "WWW-Authenticate": "Bearer" });
    }
    if (!limiter.take(caller.fingerprint)) {
      request.resume();
      return send(response, 429, error("rate limit exceeded"), { "Retry-After": "1" });
    }
    store.touchKey(caller.fingerprint);

    const body = await readBody(request);
    if (!body.ok) {
      request.resume();
      return send(
        response,
        body.status,
        error(body.status === 413 ? "request body too large" : "unreadable body"),
      );
    }
    const line = body.bytes.toString("utf8").trim();
    if (line === "") return send(response, 400, error("empty command"));
    if (line.includes("\0")) return send(response, 400, error("command contains a NUL byte"));
    let words: string[];
    try {
      words = splitCommandLine(line);
    } catch (failure) {
      if (failure instanceof CommandSyntaxError) return send(response, 400, error("invalid command syntax"));
      throw failure;
    }
    const resolved = resolveCommand(words);
    if (!resolved) return send(response, 404, error(`unknown command ${JSON.stringify(words[0] ?? "")}`));
    if (resolved.command.name === "ssh" && resolved.args[0] !== "--help") {
      let target: SshTarget | SshUsageError;
      try {
        target = parseSshArgs(resolved.args);
      } catch (failure) {
        if (!(failure instanceof SshUsageError)) throw failure;
        target = failure;
      }
      if (!sshAllowed(caller.cmds, target instanceof SshUsageError ? undefined : target.vm)) {
        return send(response, 403, error("command not allowed by token permissions"));
      }
      if (target instanceof SshUsageError) return send(response, 422, error(target.message));
      if (!store.vm(target.vm))
        return send(response, 422, error(`vm ${JSON.stringify(target.vm)} not found`));
      return streamSshExec(request, response, {
        store,
        processes: options.processes,
        target,
        deadlineMs: faults.commandDeadlineMs,
      });
    }
    if (!caller.cmds.includes(resolved.command.name)) {
      return send(response, 403, error("command not allowed by token permissions"));
    }

    const context: CommandContext = {
      store,
      processes: options.processes,
      gateway: options.gateway,
      pendingNames,
      callerFingerprint: caller.fingerprint,
    };
    const outcome = await withDeadline(
      creationDelay(resolved.command.name, faults.newDelayMs)
        .then(() => runCommand(resolved, context))
        .then(
          (result) => ({ result }),
          (failure: unknown) => ({ failure }),
        ),
      faults.commandDeadlineMs,
    );
    if (outcome === "timeout") return send(response, 504, error("command timed out"));
    if ("result" in outcome) return send(response, outcome.result.status, outcome.result.lines);
    const { failure } = outcome;
    if (failure instanceof CommandFailure || failure instanceof FlagError) {
      return send(response, 422, error(failure.message));
    }
    throw failure;
  };

  return createServer((request, response) => {
    handle(request, response).catch(() => {
      const trace = randomBytes(6).toString("hex");
      send(response, 500, error(`internal error, trace ID: ${trace}`));
    });
  });
}
