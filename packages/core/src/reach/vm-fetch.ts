import { createRedactor, sanitizeCause } from "../api/redact.js";
import { invalidArgument, SandboxError } from "../errors.js";
import type { SandboxFetchInit } from "../reach.js";
import { mintVmToken } from "../token/mint-vm-token.js";
import { isLocalhostName, loopbackFetch } from "./loopback-fetch.js";

/** The header exe.dev's proxy reads a VM token from, and strips before forwarding. */
export const VM_TOKEN_HEADER = "X-Exedev-Authorization";
const DEFAULT_TOKEN_TTL_MS = 300_000;
const MIN_TOKEN_TTL_MS = 10_000;
const MAX_TOKEN_TTL_MS = 7 * 24 * 3_600_000;

/** A key that signs VM tokens. */
export interface VmSigningKey {
  privateKey: string | Uint8Array;
  passphrase?: string;
}

/** What {@link createVmFetch} needs. */
export interface VmFetchSetup {
  /** The VM's name: tokens are minted for `v0@<vm>.exe.xyz`. */
  vm: string;
  /** The URL of a port (validates the port). */
  url: (port: number) => string;
  /** The signing key, read when the first token is minted. */
  signingKey: () => VmSigningKey;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

function checkInit(init: unknown): { ttlMs: number; rest: RequestInit } {
  if (init === undefined) return { ttlMs: DEFAULT_TOKEN_TTL_MS, rest: {} };
  if (typeof init !== "object" || init === null) throw invalidArgument("fetch init must be an object.");
  const { tokenTtlMs, ...rest } = init as SandboxFetchInit;
  const ttlMs = tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS;
  if (!Number.isInteger(ttlMs) || ttlMs < MIN_TOKEN_TTL_MS || ttlMs > MAX_TOKEN_TTL_MS) {
    throw invalidArgument(
      `tokenTtlMs must be a whole number of ms from ${MIN_TOKEN_TTL_MS} to ${MAX_TOKEN_TTL_MS} (7 days).`,
      { tokenTtlMs },
    );
  }
  if (rest.redirect === "follow") {
    throw invalidArgument(
      'redirect "follow" is not supported: the VM token must not travel to another host. Follow Location yourself.',
    );
  }
  if (rest.redirect !== undefined && rest.redirect !== "manual" && rest.redirect !== "error") {
    throw invalidArgument('redirect must be "manual" or "error".');
  }
  return { ttlMs, rest };
}

function checkPath(path: unknown, base: string): URL {
  if (typeof path !== "string" || !path.startsWith("/") || path.startsWith("//")) {
    throw invalidArgument('path must be a string starting with one "/", e.g. "/api/health?full=1".');
  }
  if (/[\s\u0000-\u001f\u007f\\]/.test(path)) {
    throw invalidArgument(
      "path must not contain spaces, control characters or backslashes; percent-encode them.",
    );
  }
  const target = new URL(path, base);
  if (target.origin !== new URL(base).origin) throw invalidArgument("path must stay on the VM's URL.");
  return target;
}

function checkHeaders(headers: RequestInit["headers"]): Headers {
  let checked: Headers;
  try {
    checked = new Headers(headers);
  } catch {
    throw invalidArgument("init.headers must be valid HTTP header names and values.");
  }
  if (checked.has(VM_TOKEN_HEADER)) {
    throw invalidArgument(`init.headers must not set ${VM_TOKEN_HEADER}: sandbox.fetch sets it.`);
  }
  return checked;
}

/**
 * `sandbox.fetch(port, path, init)`: a fetch to the VM's port through exe.dev's proxy with a VM
 * token minted locally, reused until a third of its life is left. Everything is checked before
 * any I/O; failures are `SandboxError`s whose messages and causes never hold the token.
 */
export function createVmFetch(
  setup: VmFetchSetup,
): (port: number, path: string, init?: SandboxFetchInit) => Promise<Response> {
  const tokens = new Map<number, { token: string; expiresAtMs: number }>();
  const tokenFor = (ttlMs: number): string => {
    const cached = tokens.get(ttlMs);
    if (cached && cached.expiresAtMs - Date.now() > ttlMs / 3) return cached.token;
    const exp = Math.floor((Date.now() + ttlMs) / 1000);
    const token = mintVmToken(setup.vm, { ...setup.signingKey(), exp });
    tokens.set(ttlMs, { token, expiresAtMs: exp * 1000 });
    return token;
  };

  return async (port, path, init) => {
    const { ttlMs, rest } = checkInit(init);
    const base = setup.url(port);
    const target = checkPath(path, base);
    const headers = checkHeaders(rest.headers);
    const token = tokenFor(ttlMs);
    headers.set(VM_TOKEN_HEADER, `Bearer ${token}`);
    const redact = createRedactor([token]);
    const requestInit: RequestInit = { ...rest, headers, redirect: rest.redirect ?? "manual" };
    try {
      if (isLocalhostName(target.hostname)) {
        const response = await loopbackFetch(target, new Request(target, requestInit));
        if (rest.redirect === "error" && response.status >= 300 && response.status < 400) {
          await response.body?.cancel();
          throw new TypeError("unexpected redirect");
        }
        return response;
      }
      return await (setup.fetch ?? globalThis.fetch)(target, requestInit);
    } catch (error) {
      const aborted = rest.signal?.aborted === true;
      const cause = sanitizeCause(error, redact);
      throw new SandboxError(
        aborted ? "aborted" : "connection_failed",
        aborted
          ? `The fetch of ${target.origin}${target.pathname} was aborted.`
          : redact(
              `The fetch of ${target.origin}${target.pathname} failed: ${cause?.message ?? "network error"}.`,
            ),
        { cause, details: { port, url: `${target.origin}${target.pathname}` } },
      );
    }
  };
}
