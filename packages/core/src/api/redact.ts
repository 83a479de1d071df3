/** Replaces every known secret in a text with `[redacted]`. */
export type Redactor = (text: string) => string;

// Shorter values (a "1", a "true") cannot be hidden without garbling every message they occur in.
const MIN_SECRET_LENGTH = 4;
// A server may quote one line of a script or prompt back; hide long-enough lines on their own too.
const MIN_SECRET_LINE_LENGTH = 8;
const REDACTED = "[redacted]";

function variantsOf(secret: string): string[] {
  const forms = [
    secret,
    JSON.stringify(secret).slice(1, -1),
    secret.replaceAll("\\", "\\\\").replaceAll("\n", "\\n"),
    ...secret.split(/\r?\n/).filter((line) => line.trim().length >= MIN_SECRET_LINE_LENGTH),
  ];
  // Also as quoted for the lobby's lexer, should a server ever echo the raw command line.
  return [...forms, ...forms.map((form) => form.replaceAll("'", `'\\''`))];
}

/**
 * A redactor for the given secrets (tokens, env values, setup scripts, prompts), covering their
 * JSON-escaped, setup-script-escaped and shell-quoted forms and their longer lines. Longest first, so that a
 * secret containing another is hidden whole.
 */
export function createRedactor(secrets: Iterable<string | undefined>): Redactor {
  const needles = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) continue;
    for (const variant of variantsOf(secret)) {
      if (variant.length >= MIN_SECRET_LENGTH) needles.add(variant);
    }
  }
  const ordered = [...needles].sort((a, b) => b.length - a.length);
  return (text) => {
    let result = text;
    for (const needle of ordered) result = result.replaceAll(needle, REDACTED);
    return result;
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
