import { invalidArgument } from "../errors.js";

/** Version prefix of SSH-signed exe.dev tokens. */
export const TOKEN_PREFIX = "exe0.";
/** The server refuses longer tokens. */
export const MAX_TOKEN_BYTES = 8192;

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** `exe0.<payload>.<signature>`, both parts base64url without padding (RFC 4648 section 5). */
export function formatToken(payload: Uint8Array, sshsigBlob: Uint8Array): string {
  return `${TOKEN_PREFIX}${Buffer.from(payload).toString("base64url")}.${Buffer.from(sshsigBlob).toString("base64url")}`;
}

/** Length in bytes of `bytes` once base64url-encoded without padding. */
export function base64urlLength(bytes: number): number {
  return Math.ceil((bytes * 4) / 3);
}

/**
 * Decodes unpadded base64url. Node's decoder skips characters it does not know, which would let
 * two different strings decode to the same bytes, so the alphabet is checked first.
 */
export function decodeBase64url(text: string, what: string): Buffer {
  if (!BASE64URL.test(text) || text.length % 4 === 1) {
    throw invalidArgument(`${what} is not valid base64url (RFC 4648, no padding).`);
  }
  return Buffer.from(text, "base64url");
}

/** The two encoded parts of an exe0 token, after the size and prefix checks the server makes first. */
export function splitToken(token: unknown): { payload: string; signature: string } {
  if (typeof token !== "string") throw invalidArgument("token must be a string.");
  if (Buffer.byteLength(token, "utf8") > MAX_TOKEN_BYTES) {
    throw invalidArgument(`token is longer than ${MAX_TOKEN_BYTES} bytes.`);
  }
  if (!token.startsWith(TOKEN_PREFIX)) throw invalidArgument('token must start with "exe0.".');
  const rest = token.slice(TOKEN_PREFIX.length);
  const dot = rest.indexOf(".");
  if (dot < 0) throw invalidArgument("token must have the form exe0.<payload>.<signature>.");
  return { payload: rest.slice(0, dot), signature: rest.slice(dot + 1) };
}
