import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { isSandboxError, type Sandbox, type SandboxErrorCode, shellQuote } from "@exedev-sandbox/core";
import type {
  DeleteResult,
  EditResult,
  ExecuteResponse,
  FileDownloadResponse,
  FileInfo,
  FileOperationError,
  FileUploadResponse,
  GlobResult,
  GrepMatch,
  GrepResult,
  LsResult,
  ReadRawResult,
  ReadResult,
  SandboxBackendProtocolV2,
  WriteResult,
} from "deepagents";

/** Most paths `glob` reports before it stops and flags `truncated`. */
const MAX_GLOB_RESULTS = 10_000;
/** Extensions deepagents treats as binary (it passes such content as bytes, written as base64). */
const BINARY_TYPES: Readonly<Record<string, string>> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".pdf": "application/pdf",
  ".mp3": "audio/mpeg",
  ".wav": "audio/wav",
  ".mp4": "video/mp4",
};

function mimeTypeOf(path: string): { mimeType: string; binary: boolean } {
  const type = BINARY_TYPES[posix.extname(path).toLowerCase()];
  return type ? { mimeType: type, binary: true } : { mimeType: "text/plain", binary: false };
}

function operationError(error: unknown): FileOperationError {
  const code: SandboxErrorCode | undefined = isSandboxError(error) ? error.code : undefined;
  switch (code) {
    case "not_found":
      return "file_not_found";
    case "permission_denied":
      return "permission_denied";
    case "is_a_directory":
      return "is_directory";
    case "invalid_argument":
    case "not_a_directory":
      return "invalid_path";
    default:
      throw error;
  }
}

/** `**` spans directories, `*` and `?` stay within one; everything else is literal. */
function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === "*" && pattern[i + 1] === "*") {
      source += pattern[i + 2] === "/" ? "(?:.*/)?" : ".*";
      i += pattern[i + 2] === "/" ? 2 : 1;
    } else if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/** Options for {@link createDeepAgentsBackend}. */
export interface DeepAgentsBackendOptions {
  /** The backend's `id`. @default "exedev-" plus random hex */
  id?: string;
  /** Deadline for `execute`, in ms (deepagents passes none). @default 300000 */
  executeTimeoutMs?: number;
}

/**
 * A deepagents sandbox backend (`SandboxBackendProtocolV2`) on an exe.dev sandbox:
 * `createDeepAgent({ backend: createDeepAgentsBackend(sandbox) })`. File methods work natively
 * over SFTP (byte-exact, with the protocol's error values); `grep` and `glob` use the VM's
 * `grep` and `find`, with every argument quoted.
 */
export function createDeepAgentsBackend(
  sandbox: Sandbox,
  options: DeepAgentsBackendOptions = {},
): SandboxBackendProtocolV2 {
  const executeTimeoutMs = options.executeTimeoutMs ?? 300_000;
  const readText = async (path: string): Promise<string> =>
    Buffer.from(await sandbox.readFileBuffer(path)).toString("utf8");
  const notFound = (path: string) => ({ error: `File '${path}' not found` });

  return {
    id: options.id ?? `exedev-${randomBytes(6).toString("hex")}`,

    async ls(path): Promise<LsResult> {
      try {
        const entries = await sandbox.readdir(path);
        const files: FileInfo[] = entries.map((entry) => {
          const full = posix.join(path, entry.name);
          const isDir = entry.type === "directory";
          return { path: isDir ? `${full}/` : full, is_dir: isDir, size: entry.size };
        });
        return { files };
      } catch (error) {
        if (isSandboxError(error)) return { error: `Cannot list '${path}': ${error.message}` };
        throw error;
      }
    },

    async read(filePath, offset = 0, limit = 500): Promise<ReadResult> {
      const { mimeType, binary } = mimeTypeOf(filePath);
      let bytes: Uint8Array;
      try {
        bytes = await sandbox.readFileBuffer(filePath);
      } catch (error) {
        if (isSandboxError(error)) return notFound(filePath);
        throw error;
      }
      if (binary) return { content: bytes, mimeType };
      const start = Number.isFinite(offset) ? Math.max(0, Math.floor(offset)) : 0;
      const count = Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0;
      if (count === 0) return { content: "", mimeType };
      if (bytes.length === 0)
        return { content: "System reminder: File exists but has empty contents", mimeType };
      const lines = Buffer.from(bytes).toString("utf8").split("\n");
      if (lines.at(-1) === "") lines.pop();
      const end = Math.min(start + count, lines.length);
      // The same numbering as deepagents' own sandboxes (awk's "%6d\t%s"), so its tools read alike.
      const content = lines
        .slice(start, end)
        .map((line, i) => `${String(start + i + 1).padStart(6)}\t${line}\n`)
        .join("");
      if (start >= lines.length) return { content, mimeType };
      return {
        content,
        mimeType,
        totalLines: lines.length,
        startLine: start + 1,
        endLine: end,
        nextOffset: end < lines.length ? end : undefined,
      };
    },

    async readRaw(filePath): Promise<ReadRawResult> {
      const { mimeType, binary } = mimeTypeOf(filePath);
      try {
        const [bytes, stat] = await Promise.all([sandbox.readFileBuffer(filePath), sandbox.stat(filePath)]);
        const modified = stat.mtime.toISOString();
        const content = binary ? bytes : Buffer.from(bytes).toString("utf8");
        return { data: { content, mimeType, created_at: modified, modified_at: modified } };
      } catch (error) {
        if (isSandboxError(error)) return notFound(filePath);
        throw error;
      }
    },

    async write(filePath, content): Promise<WriteResult> {
      // deepagents hands binary files' content as base64 text.
      const data = mimeTypeOf(filePath).binary ? Buffer.from(content, "base64") : content;
      try {
        await sandbox.writeFile(filePath, data);
        return { path: filePath, filesUpdate: null };
      } catch (error) {
        return { error: `Failed to write to ${filePath}: ${operationError(error)}` };
      }
    },

    async edit(filePath, oldString, newString, replaceAll = false): Promise<EditResult> {
      let text: string;
      try {
        text = await readText(filePath);
      } catch (error) {
        if (isSandboxError(error)) return { error: `Error: File '${filePath}' not found` };
        throw error;
      }
      if (oldString === "") {
        if (text !== "") return { error: "oldString must not be empty unless the file is empty" };
        if (newString !== "") await sandbox.writeFile(filePath, newString);
        return { path: filePath, filesUpdate: null, occurrences: newString === "" ? 0 : 1 };
      }
      const parts = text.split(oldString);
      const occurrences = parts.length - 1;
      if (occurrences === 0) return { error: `String not found in file '${filePath}'` };
      if (occurrences > 1 && !replaceAll) {
        return { error: `Multiple occurrences found in '${filePath}'. Use replaceAll=true to replace all.` };
      }
      if (oldString !== newString) await sandbox.writeFile(filePath, parts.join(newString));
      return { path: filePath, filesUpdate: null, occurrences };
    },

    async grep(pattern, path = "/", glob = null, maxCount = null): Promise<GrepResult> {
      const base = path ?? "/";
      const include = glob ? ` --include=${shellQuote(glob)}` : "";
      // -Z ends each file name with NUL, so names containing ':' still parse.
      const result = await sandbox.exec(
        `grep -rHnFZ -I${include} -e ${shellQuote(pattern)} -- ${shellQuote(base)} 2>/dev/null`,
        {
          timeoutMs: executeTimeoutMs,
        },
      );
      if (result.exitCode > 1)
        return { error: `grep failed in '${base}' (exit ${result.exitCode})`, matches: [] };
      const matches: GrepMatch[] = [];
      for (const row of result.stdout.split("\n")) {
        const nul = row.indexOf("\0");
        if (nul < 0) continue;
        const rest = row.slice(nul + 1);
        const colon = rest.indexOf(":");
        const line = Number(rest.slice(0, colon));
        if (colon > 0 && Number.isInteger(line))
          matches.push({ path: row.slice(0, nul), line, text: rest.slice(colon + 1) });
      }
      if (typeof maxCount === "number" && maxCount >= 0 && matches.length > maxCount) {
        return { matches: matches.slice(0, maxCount), truncated: true };
      }
      return { matches, truncated: result.truncated || undefined };
    },

    async glob(pattern, path = "/"): Promise<GlobResult> {
      const base = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
      const result = await sandbox.exec(
        `find ${shellQuote(base)} -mindepth 1 -printf '%y\\t%s\\t%T@\\t%P\\0' 2>/dev/null | head -z -n ${MAX_GLOB_RESULTS + 1}`,
        { timeoutMs: executeTimeoutMs },
      );
      const regex = globToRegExp(pattern);
      const rows = result.stdout.split("\0").filter(Boolean);
      const files: FileInfo[] = [];
      for (const row of rows.slice(0, MAX_GLOB_RESULTS)) {
        const [type, size, mtime, relative] = row.split("\t");
        if (relative === undefined || !regex.test(relative)) continue;
        files.push({
          path: relative,
          is_dir: type === "d",
          size: Number(size),
          modified_at: new Date(Number(mtime) * 1000).toISOString(),
        });
      }
      return { files, truncated: rows.length > MAX_GLOB_RESULTS || result.truncated };
    },

    async delete(filePath): Promise<DeleteResult> {
      if (!(await sandbox.exists(filePath))) return { error: `Error: '${filePath}' not found` };
      try {
        await sandbox.rm(filePath, { recursive: true });
        return { path: filePath, filesUpdate: null };
      } catch (error) {
        if (isSandboxError(error)) return { error: `Error deleting file '${filePath}': ${error.message}` };
        throw error;
      }
    },

    async uploadFiles(files): Promise<FileUploadResponse[]> {
      return Promise.all(
        files.map(async ([path, content]) => {
          try {
            await sandbox.writeFile(path, content);
            return { path, error: null };
          } catch (error) {
            return { path, error: operationError(error) };
          }
        }),
      );
    },

    async downloadFiles(paths): Promise<FileDownloadResponse[]> {
      return Promise.all(
        paths.map(async (path) => {
          try {
            return { path, content: await sandbox.readFileBuffer(path), error: null };
          } catch (error) {
            return { path, content: null, error: operationError(error) };
          }
        }),
      );
    },

    async execute(command): Promise<ExecuteResponse> {
      const result = await sandbox.exec(command, { timeoutMs: executeTimeoutMs });
      const output = result.stderr
        ? `${result.stdout}${result.stdout && !result.stdout.endsWith("\n") ? "\n" : ""}${result.stderr}`
        : result.stdout;
      return { output, exitCode: result.exitCode, truncated: result.truncated };
    },
  };
}
