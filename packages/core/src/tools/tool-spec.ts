import type { z } from "zod";
import { isSandboxError, type SandboxErrorCode } from "../errors.js";
import type { Sandbox } from "../sandbox.js";

/** Settings a tool run gets from the adapter that hosts it. */
export interface ToolRunContext {
  /** Cancels the run; a running command is killed. */
  signal?: AbortSignal;
  /** Directory that relative paths and commands start from. @default the sandbox's home directory */
  cwd?: string;
  /** Deadline for `bash` when the model gives none, in ms. @default 120000 */
  defaultTimeoutMs?: number;
  /** Longest text a tool returns to the model, in characters; the middle of longer output is cut with a marker. @default 30000 */
  maxOutputChars?: number;
}

/** What every tool returns: `text` is what the model reads; the other fields are for programs. */
export type ToolResult<T extends object = object> =
  | ({ ok: true; text: string } & T)
  | { ok: false; text: string; code: SandboxErrorCode | "tool_error" };

/**
 * A tool written once for every framework: a name, a description a model can act on, a zod input
 * schema, and `run`. Adapters only convert it to their framework's tool type.
 */
export interface ToolSpec<Input = unknown, Output extends object = object> {
  /** The canonical name (camelCase, as the AI SDK uses). */
  name: string;
  /** The same name in snake_case (as LangChain and deepagents use). */
  snakeName: string;
  /** What the tool does and when to use it, written for a model. */
  description: string;
  /** The input schema (zod 4). */
  inputSchema: z.ZodType<Input>;
  /** Runs the tool. Failures a model can act on come back as `{ ok: false }`; infrastructure failures throw. */
  run(sandbox: Sandbox, input: Input, context?: ToolRunContext): Promise<ToolResult<Output>>;
}

/** Default cap on text returned to a model. */
export const DEFAULT_MAX_OUTPUT_CHARS = 30_000;

/** An absolute path without empty or `.` segments; `..` is left for the machine to resolve. */
function tidy(path: string): string {
  const kept = path.split("/").filter((segment) => segment !== "" && segment !== ".");
  return `/${kept.join("/")}`;
}

/** `rel` under `base`, as text: `..` is left for the machine to resolve (through links). */
function under(base: string, rel: string): string {
  return tidy(`${base}/${rel}`);
}

/**
 * Resolves a path the model gave against the working directory. `..` is kept, never resolved as
 * text: with `link -> a/b`, `link/../x` is `a/x` on the machine, as the model's shell sees it
 * (the sandbox tidies `//` and `.` and sends the rest as written).
 */
export function resolveToolPath(sandbox: Sandbox, path: string, context: ToolRunContext | undefined): string {
  const base = context?.cwd ?? sandbox.homeDir;
  if (path === "~") return sandbox.homeDir;
  if (path.startsWith("~/")) return under(sandbox.homeDir, path.slice(2));
  return path.startsWith("/") ? tidy(path) : under(base, path);
}

/** Keeps the head and tail of long text, with a marker saying how much was cut. */
export function truncateMiddle(text: string, maxChars: number): { text: string; truncated: boolean } {
  if (text.length <= maxChars) return { text, truncated: false };
  const keep = Math.max(0, maxChars - 80);
  const head = text.slice(0, Math.ceil(keep / 2));
  const tail = text.slice(text.length - Math.floor(keep / 2));
  const cut = text.length - head.length - tail.length;
  return { text: `${head}\n[... ${cut} characters truncated ...]\n${tail}`, truncated: true };
}

// Errors the model caused and can fix (a wrong path, an ambiguous edit) come back as results;
// errors of the machine or the caller (died, closed, aborted) are thrown to the framework.
const MODEL_FIXABLE: ReadonlySet<SandboxErrorCode> = new Set([
  "invalid_argument",
  "not_found",
  "already_exists",
  "not_a_directory",
  "is_a_directory",
  "not_empty",
  "permission_denied",
  "io_error",
]);

/** Turns a model-fixable SandboxError into an error result; rethrows anything else. */
export function errorResult(error: unknown): { ok: false; text: string; code: SandboxErrorCode } {
  if (isSandboxError(error) && MODEL_FIXABLE.has(error.code)) {
    return { ok: false, code: error.code, text: `Error (${error.code}): ${error.message}` };
  }
  throw error;
}

/** An error result for a tool-level problem (not a sandbox error). */
export function toolError(text: string): { ok: false; text: string; code: "tool_error" } {
  return { ok: false, code: "tool_error", text: `Error: ${text}` };
}
