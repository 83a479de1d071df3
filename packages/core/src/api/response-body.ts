/** A `/exec` response body split into its JSON documents. */
export interface ParsedResponseBody {
  /** The last JSON document: the command's result. A body that is not JSON lines yields its trimmed text. */
  result: unknown;
  /** Messages of the `{"error": …}` documents before the last one (`rm` prints one per failed VM). */
  errors: string[];
  /** Whether every non-empty line was JSON. */
  isJson: boolean;
}

function errorMessageOf(document: unknown): string | undefined {
  if (typeof document !== "object" || document === null || Array.isArray(document)) return undefined;
  const message = (document as { error?: unknown }).error;
  return typeof message === "string" ? message : undefined;
}

/**
 * Parses a `/exec` body line by line. The server writes compact JSON, one document per line,
 * and some commands print failures as `{"error":…}` lines before the final result.
 */
export function parseResponseBody(text: string): ParsedResponseBody {
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  const documents: unknown[] = [];
  for (const line of lines) {
    try {
      documents.push(JSON.parse(line));
    } catch {
      // Not JSON lines (e.g. `ssh <vm> <cmd>` output): hand back the text itself.
      return { result: text.trim(), errors: [], isJson: false };
    }
  }
  if (documents.length === 0) return { result: undefined, errors: [], isJson: true };
  const errors = documents.slice(0, -1).flatMap((document) => {
    const message = errorMessageOf(document);
    return message === undefined ? [] : [message];
  });
  return { result: documents.at(-1), errors, isJson: true };
}

/** The server's own explanation in an error body: the last `error` field, else the raw text. */
export function serverMessageOf(text: string): string | undefined {
  const parsed = parseResponseBody(text);
  if (parsed.isJson) {
    const fromResult = errorMessageOf(parsed.result);
    return fromResult ?? parsed.errors.at(-1);
  }
  return typeof parsed.result === "string" && parsed.result !== "" ? parsed.result : undefined;
}
