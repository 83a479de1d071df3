import { createServer } from "node:net";
import { inspect } from "node:util";
import { type LobbyServer, startLobbyServer } from "@exedev-sandbox/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { isSandboxError, type SandboxError } from "../errors.js";
import { createExeDevApi } from "./exe-dev-api.js";
import { type ExeDevApiTestOptions, withTestKnobs } from "./test-knobs.js";

const TOKEN = "exe0.eyJzZWNyZXQtdG9rZW4tcGF5bG9hZCI6MX0.c2lnbmF0dXJlLXNlY3JldA";
const ENV_SECRET = "hunter2-env-secret-'quoted' $value";
const SCRIPT_SECRET =
  "#!/bin/bash\nexport DB_PASSWORD='script-secret-line'\ncurl -H 'x: script-secret-two' example.test\n";
const PROMPT_SECRET = "prompt-secret please do the thing";
const SECRETS = [
  TOKEN,
  ENV_SECRET,
  "script-secret-line",
  "script-secret-two",
  PROMPT_SECRET,
  "hunter2-env-secret",
];

let server: LobbyServer;
beforeAll(async () => {
  server = await startLobbyServer({ token: TOKEN });
});
afterAll(() => server.close());
beforeEach(() => {
  server.vms.clear();
  server.requests.length = 0;
  server.intercept = undefined;
});

function makeApi(extra: ExeDevApiTestOptions = {}) {
  return createExeDevApi(
    withTestKnobs({
      token: TOKEN,
      baseUrl: server.url,
      retryBaseDelayMs: 1,
      maxRetryDelayMs: 5,
      rateLimit: { burst: 1000, refillPerSecond: 1000 },
      ...extra,
    }),
  );
}

/** Everything an error exposes, the way a logger or a crash report would show it. */
function everythingIn(error: SandboxError): string {
  const cause = error.cause as { cause?: unknown } | undefined;
  return [
    error.message,
    error.stack,
    String(error),
    JSON.stringify(error),
    JSON.stringify(error.details),
    String(error.cause),
    String(cause?.cause),
    JSON.stringify(error.cause, Object.getOwnPropertyNames(error.cause ?? {})),
    inspect(error, { depth: 10, showHidden: true }),
  ].join("\n");
}

async function failure(promise: Promise<unknown>): Promise<SandboxError> {
  try {
    await promise;
  } catch (error) {
    if (isSandboxError(error)) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

function expectClean(error: SandboxError): void {
  const text = everythingIn(error);
  for (const secret of SECRETS) expect(text).not.toContain(secret);
  // Nor any request body the server received (short ones such as `'whoami'` are just a command name).
  for (const { body } of server.requests) if (body.length > 30) expect(text).not.toContain(body);
}

const secretOptions = {
  name: "secret-box",
  env: { DB_PASSWORD: ENV_SECRET },
  setupScript: SCRIPT_SECRET,
  prompt: PROMPT_SECRET,
};

/** A server that repeats back everything it was sent, in the error message. */
const echoBody = (status: number) => () => {
  const request = server.requests.at(-1)!;
  return {
    status,
    body: {
      error: `bad request ${request.body} words=${JSON.stringify(request.words)} auth=${request.headers.authorization}`,
    },
  };
};

describe("secrets never reach errors", () => {
  it.each([400, 401, 403, 404, 413, 422, 429, 500, 504])(
    "when the server echoes the request back with HTTP %i",
    async (status) => {
      server.intercept = echoBody(status);
      const error = await failure(makeApi({ maxRetries: 1 }).newVm(secretOptions));
      expect(error.details.status).toBe(status);
      expectClean(error);
    },
  );

  it("when raw run words and flags carry env values, scripts and prompts", async () => {
    server.intercept = echoBody(422);
    expectClean(await failure(makeApi().run(["new", `--env=KEY=${ENV_SECRET}`, "--prompt", PROMPT_SECRET])));
    expectClean(
      await failure(makeApi().run(["new"], { "setup-script": SCRIPT_SECRET, env: [`A=${ENV_SECRET}`] })),
    );
  });

  it("when a custom fetch throws an error that quotes the headers and body", async () => {
    const leaky: typeof fetch = async (_input, init) => {
      const headers = init?.headers as Record<string, string>;
      throw new TypeError(`could not send ${String(init?.body)} with ${headers.authorization}`, {
        cause: Object.assign(new Error(`socket said ${headers.authorization}`), { code: "ECONNRESET" }),
      });
    };
    const error = await failure(makeApi({ fetch: leaky, maxRetries: 0 }).newVm(secretOptions));
    expect(error.code).toBe("connection_failed");
    expect(error.details.networkCode).toBe("ECONNRESET");
    expect(String(error.cause)).toContain("[redacted]");
    expectClean(error);
  });

  it("on network failures and timeouts", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const refused = await failure(
      createExeDevApi({ token: TOKEN, baseUrl: `http://127.0.0.1:${port}`, maxRetries: 0 }).newVm(
        secretOptions,
      ),
    );
    expect(refused.code).toBe("connection_failed");
    expectClean(refused);

    server.intercept = () => ({ status: 200, body: {}, delayMs: 300 });
    const timedOut = await failure(makeApi({ timeoutMs: 50, maxRetries: 0 }).whoami());
    expect(timedOut.code).toBe("timeout");
    expectClean(timedOut);
  });

  it("when inputs are refused before sending", async () => {
    const api = makeApi();
    for (const options of [
      { env: { GOOD: `${ENV_SECRET}\nsecond line` } },
      { setupScript: `${SCRIPT_SECRET}\r\n` },
      { prompt: `${PROMPT_SECRET}\nmore` },
      { setupScript: SCRIPT_SECRET.repeat(200) },
    ]) {
      const error = await failure(api.newVm(options));
      expect(error.code).toBe("invalid_argument");
      expectClean(error);
    }
    expect(server.requests).toHaveLength(0);
  });

  it("when the token itself is malformed", async () => {
    const error = await failure(
      createExeDevApi({ token: `${TOKEN}\nInjected: header`, baseUrl: server.url }).whoami(),
    );
    expect(error.code).toBe("auth_failed");
    expectClean(error);
    expect(server.requests).toHaveLength(0);
  });
});

describe("secrets never reach errors in derived forms", () => {
  // A script with characters every encoder treats differently: quotes, `<>&`, `/`, non-ASCII.
  const SCRIPT = '#!/bin/sh\necho "grüße <db-pass-8812>" > /etc/app.conf && curl "https://x.test/?k=v&s=t"\n';
  const ENV_VALUE = "env-secret-value-7d1f3c9a";

  /** A server that answers 422 with `said(request)` as its error message. */
  function echoing(said: (body: string) => string) {
    server.intercept = () => ({ status: 422, body: { error: said(server.requests.at(-1)!.body) } });
  }

  async function errorOf(): Promise<SandboxError> {
    return failure(
      makeApi({ maxRetries: 0 }).newVm({ name: "derived-box", env: { KEY: ENV_VALUE }, setupScript: SCRIPT }),
    );
  }

  function expectHidden(error: SandboxError, ...forms: string[]): void {
    const text = everythingIn(error);
    for (const form of [SCRIPT, ENV_VALUE, ...forms]) expect(text).not.toContain(form);
    expect(error.message).toContain("[redacted]");
  }

  it("an echoed setup script, URL-encoded (as encodeURIComponent, form encoding and lower-case hex)", async () => {
    const forms = [
      encodeURIComponent(SCRIPT),
      new URLSearchParams({ s: SCRIPT }).toString().slice(2),
      encodeURIComponent(SCRIPT).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    ];
    for (const form of forms) {
      echoing(() => `bad script=${form}`);
      expectHidden(await errorOf(), form, form.slice(0, 40), form.slice(-40));
    }
  });

  it("an echoed env value, base64 and base64url encoded, alone or inside a longer encoded text", async () => {
    for (const offset of [0, 1, 2]) {
      const text = Buffer.from(`${"x".repeat(offset)}KEY=${ENV_VALUE};more`);
      // The 4-character groups that encode only the value's bytes, whatever surrounds it.
      const start = offset + 4;
      const valueOnly = (encoding: "base64" | "base64url") =>
        text
          .toString(encoding)
          .slice(Math.ceil(start / 3) * 4, Math.floor((start + ENV_VALUE.length) / 3) * 4);
      for (const encoding of ["base64", "base64url"] as const) {
        echoing(() => `env was ${text.toString(encoding)}`);
        expectHidden(await errorOf(), valueOnly(encoding));
        echoing(() => `env was ${Buffer.from(ENV_VALUE).toString(encoding)}`);
        expectHidden(await errorOf(), Buffer.from(ENV_VALUE).toString(encoding));
      }
    }
  });

  it("an echoed setup script, JSON-escaped the way Go and strict encoders escape it", async () => {
    const go = JSON.stringify(SCRIPT)
      .slice(1, -1)
      .replace(/[^\x20-\x7e]|[<>&]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
      .replaceAll("/", "\\/");
    for (const form of [JSON.stringify(SCRIPT).slice(1, -1), go]) {
      echoing(() => `script ${form} refused`);
      expectHidden(await errorOf(), form, form.slice(0, 30));
    }
  });

  it("an echoed fragment of a token or a script: a 20-character prefix, a piece from the middle", async () => {
    for (const fragment of [TOKEN.slice(0, 20), TOKEN.slice(30, 52), SCRIPT.slice(12, 40)]) {
      echoing(() => `unknown key ${fragment}…`);
      const error = await errorOf();
      expect(everythingIn(error)).not.toContain(fragment);
      expect(everythingIn(error)).not.toContain(fragment.slice(0, 12));
      expect(error.message).toContain("unknown key [redacted]");
    }
  });

  it("keeps what is not a secret readable: the command, the VM name, the server's own words", async () => {
    echoing(() => 'VM name "derived-box" is not available');
    const error = await errorOf();
    expect(error.message).toContain('VM name "derived-box" is not available');
  });
});
