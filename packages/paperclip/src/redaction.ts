import type { ExeDevEnvironmentConfig } from "./config.js";

/** Replaces every known secret in a text with `[redacted]`. */
export type Redactor = (text: string) => string;

// Shorter values ("1", "true") cannot be hidden without garbling every message they occur in.
const MIN_SECRET_LENGTH = 4;
// A server or shell may quote one line of a script or key back; hide long-enough lines on their own.
const MIN_SECRET_LINE_LENGTH = 12;

function formsOf(secret: string): string[] {
  const lines = secret.split(/\r?\n/).filter((line) => line.trim().length >= MIN_SECRET_LINE_LENGTH);
  const forms = [secret, JSON.stringify(secret).slice(1, -1), ...lines.map((line) => line.trim())];
  return [...forms, ...forms.map((form) => form.replaceAll("'", `'\\''`))];
}

/** A redactor for the given secret values, covering their JSON-escaped and shell-quoted forms and their lines. */
export function createRedactor(secrets: Iterable<string | undefined>): Redactor {
  const needles = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret !== "string" || secret.trim().length < MIN_SECRET_LENGTH) continue;
    for (const form of formsOf(secret)) if (form.length >= MIN_SECRET_LENGTH) needles.add(form);
  }
  // Longest first, so that a secret containing another is hidden whole.
  const ordered = [...needles].sort((a, b) => b.length - a.length);
  return (text) => ordered.reduce((result, needle) => result.replaceAll(needle, "[redacted]"), text);
}

/**
 * Every secret an environment config can carry, plus the host's API-key fallback. Pass the raw
 * config too when it may be invalid: its secret fields count even where validation dropped them.
 */
export function secretsOf(config: Partial<ExeDevEnvironmentConfig>, env: NodeJS.ProcessEnv): string[] {
  const values = [
    config.apiKey,
    config.privateKey,
    config.setupScript,
    config.prompt,
    env.EXE_API_KEY,
    env.EXE_API_TOKEN,
    ...Object.values(config.env ?? {}),
  ];
  return values.filter((value): value is string => typeof value === "string");
}

/** A copy of `error` safe to hand to Paperclip: redacted message, the `code` kept, no cause or stack frames with secrets. */
export function redactError(error: unknown, redact: Redactor): Error {
  const source = error instanceof Error ? error : new Error(String(error));
  const copy = new Error(redact(source.message));
  copy.name = source.name;
  const code = (source as { code?: unknown }).code;
  if (typeof code === "string") Object.assign(copy, { code });
  copy.stack = `${copy.name}: ${copy.message}`;
  return copy;
}
