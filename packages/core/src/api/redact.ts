/** Replaces every known secret in a text with `[redacted]`. */
export type Redactor = (text: string) => string;

// Shorter values (a "1", a "true") cannot be hidden without garbling every message they occur in.
const MIN_SECRET_LENGTH = 4;
// A server may quote one line of a script or prompt back; hide long-enough lines on their own too.
const MIN_SECRET_LINE_LENGTH = 8;
// A server that echoes part of a secret: any run of this many characters taken from a secret
// (at least this long twice over) is hidden, along with the rest of the run.
const MIN_FRAGMENT_LENGTH = 12;
const MIN_FRAGMENT_SECRET_LENGTH = 2 * MIN_FRAGMENT_LENGTH;
// Encoded forms shorter than this are too likely to occur by chance in an unrelated message.
const MIN_ENCODED_LENGTH = 8;
const REDACTED = "[redacted]";

/** JSON string escaping as strict encoders do it: non-ASCII, `<>&` (Go) and `/` escaped too. */
function jsonEscapedAscii(secret: string): string {
  return JSON.stringify(secret)
    .slice(1, -1)
    .replace(/[^\x20-\x7e]|[<>&]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .replaceAll("/", "\\/");
}

/** Percent-encodings: `encodeURIComponent`, form encoding (`+` for space), and lower-case hex. */
function urlEncoded(secret: string): string[] {
  const form = new URLSearchParams({ x: secret }).toString().slice(2);
  const forms = [form];
  try {
    forms.push(encodeURIComponent(secret), encodeURI(secret));
  } catch {
    // An unpaired surrogate: only the form encoding (which writes U+FFFD) exists.
  }
  return [...forms, ...forms.map((form) => form.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()))];
}

/**
 * Base64 and base64url of the secret's UTF-8 bytes, at each of the three alignments it can
 * have inside a longer encoded text: the groups that hold only the secret's bytes are the same
 * whatever surrounds them.
 */
function base64Encoded(secret: string): string[] {
  // Web APIs only (no Buffer): the HTTPS sandbox's module graph must run without Node.
  const bytes = new TextEncoder().encode(secret);
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const padded = new Uint8Array(offset + bytes.length);
    padded.set(bytes, offset);
    let binary = "";
    for (const byte of padded) binary += String.fromCharCode(byte);
    const encoded = btoa(binary);
    const start = offset === 0 ? 0 : 4;
    const end = Math.floor((offset + bytes.length) / 3) * 4;
    if (offset === 0) forms.push(encoded, encoded.replace(/=+$/, ""));
    if (end > start) forms.push(encoded.slice(start, end));
  }
  return [...forms, ...forms.map((form) => form.replaceAll("+", "-").replaceAll("/", "_"))];
}

/** The forms of a secret hidden whole: as is, escaped, quoted, encoded, and its longer lines. */
function variantsOf(secret: string): string[] {
  const plain = [
    secret,
    JSON.stringify(secret).slice(1, -1),
    jsonEscapedAscii(secret),
    secret.replaceAll("\\", "\\\\").replaceAll("\n", "\\n"),
    ...secret.split(/\r?\n/).filter((line) => line.trim().length >= MIN_SECRET_LINE_LENGTH),
  ];
  // Also as quoted for the lobby's lexer, should a server ever echo the raw command line.
  const quoted = [...plain, ...plain.map((form) => form.replaceAll("'", `'\\''`))];
  const encoded = [...urlEncoded(secret), ...base64Encoded(secret)].filter(
    (form) => form.length >= MIN_ENCODED_LENGTH && form !== secret,
  );
  return [...quoted, ...encoded];
}

/** Marks every character of `text` covered by a run of fragment-length windows taken from a secret. */
function hideFragments(text: string, windows: ReadonlySet<string>): string {
  if (windows.size === 0 || text.length < MIN_FRAGMENT_LENGTH) return text;
  const hidden = new Uint8Array(text.length);
  let any = false;
  for (let index = 0; index + MIN_FRAGMENT_LENGTH <= text.length; index++) {
    if (windows.has(text.slice(index, index + MIN_FRAGMENT_LENGTH))) {
      hidden.fill(1, index, index + MIN_FRAGMENT_LENGTH);
      any = true;
    }
  }
  if (!any) return text;
  let result = "";
  for (let index = 0; index < text.length; index++) {
    if (!hidden[index]) result += text[index];
    else if (index === 0 || !hidden[index - 1]) result += REDACTED;
  }
  return result;
}

/**
 * A redactor for the given secrets (tokens, env values, setup scripts, prompts). It hides them
 * whole in their raw, JSON-escaped, setup-script-escaped, shell-quoted, URL-encoded, base64 and
 * base64url forms and their longer lines (longest first, so that a secret containing another is
 * hidden whole), and for secrets of 24 characters or more also any echoed fragment of 12 or more
 * characters of them (or of their encoded forms).
 *
 * `quoted` values (the request body) are hidden whole and encoded, but not by fragments: they
 * hold names an error should still be able to mention.
 */
export function createRedactor(
  secrets: Iterable<string | undefined>,
  quoted: Iterable<string | undefined> = [],
): Redactor {
  const needles = new Set<string>();
  const fragmentSources: string[] = [];
  const add = (secret: string | undefined, fragments: boolean) => {
    if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) return;
    for (const variant of variantsOf(secret)) {
      if (variant.length < MIN_SECRET_LENGTH) continue;
      needles.add(variant);
      if (fragments && variant.length >= MIN_FRAGMENT_SECRET_LENGTH) fragmentSources.push(variant);
    }
  };
  for (const secret of secrets) add(secret, true);
  for (const value of quoted) add(value, false);
  const ordered = [...needles].sort((a, b) => b.length - a.length);
  // Built on first use: redaction runs only for errors, most requests never need it.
  let windows: Set<string> | undefined;
  return (text) => {
    let result = text;
    for (const needle of ordered) result = result.replaceAll(needle, REDACTED);
    if (!windows) {
      windows = new Set();
      for (const source of fragmentSources) {
        for (let index = 0; index + MIN_FRAGMENT_LENGTH <= source.length; index++) {
          windows.add(source.slice(index, index + MIN_FRAGMENT_LENGTH));
        }
      }
    }
    return hideFragments(result, windows);
  };
}

const MAX_CAUSE_DEPTH = 3;

/**
 * Rebuilds an underlying error (such as undici's "fetch failed") from its name, message and
 * `code` only, redacted, so that no header, body or secret held by the original can leak
 * through `cause`.
 */
export function sanitizeCause(error: unknown, redact: Redactor, depth = 0): Error | undefined {
  if (error === undefined || error === null || depth >= MAX_CAUSE_DEPTH) return undefined;
  const source =
    typeof error === "object"
      ? (error as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown })
      : {};
  const message = typeof source.message === "string" ? source.message : String(error);
  const copy = new Error(redact(message));
  copy.name = typeof source.name === "string" ? source.name : "Error";
  if (typeof source.code === "string") Object.assign(copy, { code: source.code });
  const inner = sanitizeCause(source.cause, redact, depth + 1);
  if (inner) Object.assign(copy, { cause: inner });
  // The stack would repeat the message and say nothing about the remote failure.
  copy.stack = `${copy.name}: ${copy.message}`;
  return copy;
}
