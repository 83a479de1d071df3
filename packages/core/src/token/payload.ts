import { invalidArgument } from "../errors.js";
import { parseStrictJsonObject, StrictJsonError } from "./strict-json.js";

// The exe.dev server's payload rules (sshkey/token.go). Minting and inspecting share them, so a
// token minted here is never one the server refuses for its payload.

/** Earliest `exp`/`nbf` the server accepts: 2000-01-01T00:00:00Z. */
export const MIN_TIMESTAMP = 946_684_800;
/** Latest `exp`/`nbf` the server accepts: 2100-01-01T00:00:00Z. */
export const MAX_TIMESTAMP = 4_102_444_800;

/**
 * What an exe0 token allows. The server rejects any other field.
 */
export interface TokenPermissions {
  /**
   * Expiry, in whole Unix seconds (UTC); the token is refused once the clock passes it. Must be
   * between 946684800 (2000-01-01) and 4102444800 (2100-01-01). exe.dev strongly recommends setting it.
   * @default never expires
   */
  exp?: number;
  /**
   * Not-before time, in whole Unix seconds (UTC); the token is refused until then. Same range as `exp`.
   * @default valid immediately
   */
  nbf?: number;
  /**
   * Lobby commands the token may run, by exact canonical name (`"new"`, `"ls"`, `"ssh-key list"`).
   * An empty array allows nothing.
   * @default the server's default set (`help`, `ls`, `new`, `whoami`, `ssh-key list`, `share show`, `exe0-to-exe1`, ...), which excludes `rm`, `ssh` and `cp`
   */
  cmds?: string[];
  /**
   * Any JSON value, not interpreted by exe.dev. For VM tokens it reaches the VM verbatim in the
   * `X-ExeDev-Token-Ctx` header.
   * @default none
   */
  ctx?: unknown;
}

const FIELDS: ReadonlySet<string> = new Set(["exp", "nbf", "cmds", "ctx"]);
const PLAIN_INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

function printableField(name: string): string {
  return JSON.stringify(name.length > 32 ? `${name.slice(0, 32)}...` : name);
}

function checkTimestamp(value: number, field: "exp" | "nbf", prefix: string): number {
  if (value < MIN_TIMESTAMP || value > MAX_TIMESTAMP) {
    throw invalidArgument(
      `${prefix}${field} must be between ${MIN_TIMESTAMP} (2000-01-01) and ${MAX_TIMESTAMP} (2100-01-01) Unix seconds.`,
      { [field]: value },
    );
  }
  return value;
}

function checkCmds(value: unknown, prefix: string): string[] {
  if (!Array.isArray(value) || value.some((cmd) => typeof cmd !== "string" || cmd === "")) {
    throw invalidArgument(`${prefix}cmds must be an array of non-empty strings.`);
  }
  return [...value];
}

/**
 * Checks the permissions a caller wants to mint and returns the compact JSON text to sign.
 * Fields set to `undefined` are left out, as `JSON.stringify` would.
 */
export function encodePermissions(permissions: unknown): string {
  const prefix = "permissions.";
  if (permissions === undefined) return "{}";
  if (typeof permissions !== "object" || permissions === null || Array.isArray(permissions)) {
    throw invalidArgument("permissions must be an object with optional exp, nbf, cmds and ctx.");
  }
  const given = permissions as Record<string, unknown>;
  for (const [name, value] of Object.entries(given)) {
    if (!FIELDS.has(name) && value !== undefined) {
      throw invalidArgument(
        `permissions has unknown field ${printableField(name)}; use exp, nbf, cmds or ctx.`,
        {
          field: name.slice(0, 32),
        },
      );
    }
  }
  const out: TokenPermissions = {};
  for (const field of ["exp", "nbf"] as const) {
    const value = given[field];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value)) {
      throw invalidArgument(`${prefix}${field} must be a whole number of Unix seconds.`);
    }
    out[field] = checkTimestamp(value, field, prefix);
  }
  if (given.cmds !== undefined) out.cmds = checkCmds(given.cmds, prefix);
  if (given.ctx !== undefined) {
    let ctxJson: string | undefined;
    try {
      ctxJson = JSON.stringify(given.ctx);
    } catch {
      // BigInt or a cycle; the original error text may quote user data, so it is not kept.
      throw invalidArgument(`${prefix}ctx must be JSON-serialisable (no BigInt, no cycles).`);
    }
    if (ctxJson === undefined) throw invalidArgument(`${prefix}ctx must be JSON-serialisable.`);
    out.ctx = given.ctx;
  }
  const json = JSON.stringify(out);
  // The same check a verifier makes, e.g. refusing unpaired surrogates inside ctx strings.
  parsePayload(Buffer.from(json, "utf8"));
  return json;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Applies the server's payload rules to the exact signed bytes and returns the permissions.
 * Throws `invalid_argument`.
 */
export function parsePayload(payload: Uint8Array): TokenPermissions {
  const prefix = "token field ";
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw invalidArgument("token payload is not valid UTF-8.");
  }
  if (/^\s|\s$/u.test(text))
    throw invalidArgument("token payload must not have leading or trailing whitespace.");
  if (/[\r\n]/.test(text)) throw invalidArgument("token payload must not contain newlines.");
  if (text.includes("\0")) throw invalidArgument("token payload must not contain NUL bytes.");
  if (!text.startsWith("{")) throw invalidArgument("token payload must be a JSON object.");

  let members: Map<string, string>;
  try {
    members = parseStrictJsonObject(text);
  } catch (error) {
    if (error instanceof StrictJsonError)
      throw invalidArgument(`token payload is not valid JSON (${error.message}).`);
    throw error;
  }

  const permissions: TokenPermissions = {};
  for (const [name, raw] of members) {
    if (!FIELDS.has(name)) {
      throw invalidArgument(
        `token payload has unknown field ${printableField(name)}; only exp, nbf, cmds and ctx are allowed.`,
        {
          field: name.slice(0, 32),
        },
      );
    }
    // Go's json/v2 leaves a pointer or slice field unset for null, so the server treats it as absent.
    if (raw === "null" && name !== "ctx") continue;
    if (name === "exp" || name === "nbf") {
      if (!PLAIN_INTEGER.test(raw)) {
        throw invalidArgument(`${prefix}${name} must be a plain integer (no decimals, exponent or quotes).`);
      }
      permissions[name] = checkTimestamp(Number(raw), name, prefix);
    } else if (name === "cmds") {
      permissions.cmds = checkCmds(JSON.parse(raw), prefix);
    } else {
      permissions.ctx = JSON.parse(raw);
    }
  }
  return permissions;
}
