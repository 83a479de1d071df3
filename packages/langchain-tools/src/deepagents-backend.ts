import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import { isSandboxError, type Sandbox, shellQuote } from "@exedev-sandbox/core";
import type {
  DeleteResult,
  EditResult,
  ExecuteResponse,
  FileDownloadResponse,
  FileInfo,
  FileUploadResponse,
  GlobResult,
  GrepResult,
  LsResult,
  ReadRawResult,
  ReadResult,
  SandboxBackendProtocolV2,
  WriteResult,
} from "deepagents";
import { normalizeReadPagination } from "deepagents";
import { CombinedOutput } from "./combined-output.js";
import { globFiles, grepFiles, type SearchContext } from "./deepagents-search.js";
import { messageOf, toOperationError } from "./file-errors.js";
import { mimeTypeOf } from "./mime-types.js";
import { checkPositiveIntegers, invalidOption } from "./options.js";

/** What deepagents' read_file shows for an empty file (it compares the text exactly). */
const EMPTY_CONTENT_WARNING = "System reminder: File exists but has empty contents";
/** Files larger than this are paged on the VM (awk) instead of being read whole for a few lines. */
const REMOTE_PAGING_BYTES = 8 * 1024 * 1024;

/** Options for {@link createDeepAgentsBackend}. */
export interface DeepAgentsBackendOptions {
  /** The backend's `id`; deepagents needs a non-empty one to treat a backend as a sandbox. @default "exedev-" followed by 12 random hex digits */
  id?: string;
  /** Deadline of each `execute`, `grep` and `glob` command, in ms (deepagents passes none). A command still running is killed; `execute` then returns exit code 124. @default 300000 */
  timeoutMs?: number;
  /** Most characters of combined output `execute` returns; the middle of longer output is cut with a marker and `truncated` is set. @default 1000000 */
  maxOutputChars?: number;
}

/** The backend {@link createDeepAgentsBackend} returns: deepagents' sandbox protocol, with its optional methods present. */
export type ExeDevDeepAgentsBackend = SandboxBackendProtocolV2 &
  Required<Pick<SandboxBackendProtocolV2, "delete" | "uploadFiles" | "downloadFiles">>;

/** Splits text into lines as deepagents does: a final newline does not start another line. */
function linesOf(text: string): { lines: string[]; total: number } {
  const lines = text.split("\n");
  return { lines, total: lines.at(-1) === "" ? lines.length - 1 : lines.length };
}

/** deepagents' wording for a file that cannot be read (`prefix` is what its `edit` puts first). */
function readFailure(error: unknown, filePath: string, prefix = ""): { error: string } {
  const code = toOperationError(error);
  return code === "file_not_found" || code === "is_directory"
    ? { error: `${prefix}File '${filePath}' not found` }
    : { error: `Error reading file '${filePath}': ${messageOf(error)}` };
}

/** A page of lines, in the shape deepagents' own backends give it. */
function page(lines: string[], start: number, end: number, total: number, mimeType: string): ReadResult {
  return {
    content: lines.join("\n"),
    mimeType,
    totalLines: total,
    startLine: start + 1,
    endLine: end,
    ...(end < total ? { nextOffset: end } : {}),
  };
}

/**
 * A [deepagents](https://www.npmjs.com/package/deepagents) sandbox backend
 * (`SandboxBackendProtocolV2`) on an exe.dev sandbox. File methods work over SFTP, byte-exact,
 * and report failures as the protocol's error values (`file_not_found`, `is_directory`, …);
 * `grep` and `glob` run `find` and `grep` on the VM with every argument quoted; `execute` runs
 * a command and returns stdout and stderr interleaved as they arrived. Relative paths start at
 * the home directory. Failures that are not about a file (the VM is gone, the sandbox was
 * closed) are thrown. Throws `SandboxError` (`invalid_argument`) for bad options.
 *
 * @example
 * const agent = createDeepAgent({ model, backend: createDeepAgentsBackend(sandbox) });
 */
export function createDeepAgentsBackend(
  sandbox: Sandbox,
  options: DeepAgentsBackendOptions = {},
): ExeDevDeepAgentsBackend {
  const factory = "createDeepAgentsBackend";
  checkPositiveIntegers(factory, options, ["timeoutMs", "maxOutputChars"]);
  if (options.id !== undefined && (typeof options.id !== "string" || options.id === "")) {
    throw invalidOption(factory, "id", "id must be a non-empty string.");
  }
  const timeoutMs = options.timeoutMs ?? 300_000;
  const maxOutputChars = options.maxOutputChars ?? 1_000_000;
  const search: SearchContext = { sandbox, timeoutMs };
  // deepagents' paths are absolute; anything else starts where its sandboxes' shells do.
  // Normalised without a trailing slash, so the paths find prints under it read cleanly.
  const resolve = (path: string): string => posix.resolve(sandbox.homeDir, path);
  const decode = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8");

  /** Whether a symbolic link leads to a directory (a dangling one does not). */
  async function linksToDirectory(path: string): Promise<boolean> {
    try {
      return (await sandbox.stat(path)).isDirectory;
    } catch (error) {
      toOperationError(error);
      return false;
    }
  }

  /** Reads a page of a large file on the VM, so only that page crosses the network. */
  async function readRemotePage(path: string, start: number, count: number): Promise<string | undefined> {
    const script = `NR > ${start} && NR <= ${start + count} { print } END { printf "%d", NR }`;
    const result = await sandbox.exec(`awk ${shellQuote(script)} ${shellQuote(path)}`, { timeoutMs });
    return result.exitCode === 0 && !result.truncated ? result.stdout : undefined;
  }

  return {
    id: options.id ?? `exedev-${randomBytes(6).toString("hex")}`,

    async ls(dirPath: string): Promise<LsResult> {
      const path = resolve(dirPath);
      try {
        const entries = await sandbox.readdir(path);
        const files = await Promise.all(
          entries.map(async (entry): Promise<FileInfo> => {
            const full = posix.join(path, entry.name);
            // deepagents' sandboxes list with `find -L`: a link to a directory is a directory.
            const isDir =
              entry.type === "directory" || (entry.type === "symlink" && (await linksToDirectory(full)));
            return { path: isDir ? `${full}/` : full, is_dir: isDir, size: entry.size };
          }),
        );
        return { files };
      } catch (error) {
        // As deepagents' BaseSandbox, whose `find` lists nothing there: a missing path or a file
        // is an empty listing. A permission error is still reported, not passed off as empty.
        const code = toOperationError(error);
        if (code === "file_not_found" || isSandboxError(error, "not_a_directory")) return { files: [] };
        return { error: `Error listing '${dirPath}': ${messageOf(error)}` };
      }
    },

    async read(filePath: string, offset = 0, limit = 500): Promise<ReadResult> {
      const path = resolve(filePath);
      const { mimeType, binary } = mimeTypeOf(filePath);
      const { offset: start, limit: count } = normalizeReadPagination(offset, limit);
      try {
        if (binary) return { content: await sandbox.readFileBuffer(path), mimeType };
        const { size, isDirectory } = await sandbox.stat(path);
        if (isDirectory) return { error: `File '${filePath}' not found` };
        if (size === 0) return { content: EMPTY_CONTENT_WARNING, mimeType };
        if (count === 0) return { content: "", mimeType };
        if (size > REMOTE_PAGING_BYTES) {
          const output = await readRemotePage(path, start, count);
          if (output === undefined) {
            return {
              error: `Error reading file '${filePath}': the page is too large; pass a smaller limit.`,
            };
          }
          const cut = output.lastIndexOf("\n");
          const total = Number(output.slice(cut + 1));
          if (start >= total) return { error: `Line offset ${start} exceeds file length (${total} lines)` };
          const lines = cut === -1 ? [] : output.slice(0, cut).split("\n");
          return page(lines, start, start + lines.length, total, mimeType);
        }
        const { lines, total } = linesOf(decode(await sandbox.readFileBuffer(path)));
        if (start >= total) return { error: `Line offset ${start} exceeds file length (${total} lines)` };
        const end = Math.min(start + count, total);
        return page(lines.slice(start, end), start, end, total, mimeType);
      } catch (error) {
        return readFailure(error, filePath);
      }
    },

    async readRaw(filePath: string): Promise<ReadRawResult> {
      const path = resolve(filePath);
      const { mimeType, binary } = mimeTypeOf(filePath);
      try {
        const [bytes, stat] = await Promise.all([sandbox.readFileBuffer(path), sandbox.stat(path)]);
        // SFTP reports no creation time; the modification time is the closest honest value.
        const modified = stat.mtime.toISOString();
        const content = binary ? bytes : decode(bytes);
        return { data: { content, mimeType, created_at: modified, modified_at: modified } };
      } catch (error) {
        return readFailure(error, filePath);
      }
    },

    async write(filePath: string, content: string): Promise<WriteResult> {
      // deepagents hands binary files (by extension) over as base64 text, maybe as a data: URL.
      const data = mimeTypeOf(filePath).binary
        ? Buffer.from(content.replace(/^data:[^,]*,/, ""), "base64")
        : content;
      try {
        await sandbox.writeFile(resolve(filePath), data);
        return { path: filePath, filesUpdate: null };
      } catch (error) {
        return { error: `Failed to write to ${filePath}: ${toOperationError(error)}` };
      }
    },

    async edit(
      filePath: string,
      oldString: string,
      newString: string,
      replaceAll = false,
    ): Promise<EditResult> {
      const path = resolve(filePath);
      let text: string;
      try {
        text = decode(await sandbox.readFileBuffer(path));
      } catch (error) {
        return readFailure(error, filePath, "Error: ");
      }
      let updated: string;
      let occurrences: number;
      if (oldString === "") {
        // deepagents' rule: an empty oldString may only fill an empty file.
        if (text !== "") return { error: "oldString must not be empty unless the file is empty" };
        if (newString === "") return { path: filePath, filesUpdate: null, occurrences: 0 };
        [updated, occurrences] = [newString, 1];
      } else {
        const parts = text.split(oldString);
        occurrences = parts.length - 1;
        if (occurrences === 0) return { error: `String not found in file '${filePath}'` };
        if (occurrences > 1 && !replaceAll) {
          return {
            error: `Multiple occurrences found in '${filePath}'. Use replaceAll=true to replace all.`,
          };
        }
        if (oldString === newString) return { path: filePath, filesUpdate: null, occurrences };
        updated = parts.join(newString);
      }
      try {
        await sandbox.writeFile(path, updated);
        return { path: filePath, filesUpdate: null, occurrences };
      } catch (error) {
        return { error: `Failed to write edited file '${filePath}': ${toOperationError(error)}` };
      }
    },

    grep(
      pattern: string,
      path?: string | null,
      glob?: string | null,
      maxCount?: number | null,
    ): Promise<GrepResult> {
      return grepFiles(search, pattern, resolve(path ?? "/"), glob, maxCount);
    },

    glob(pattern: string, path = "/"): Promise<GlobResult> {
      return globFiles(search, pattern, resolve(path));
    },

    async delete(filePath: string): Promise<DeleteResult> {
      const path = resolve(filePath);
      try {
        if (!(await sandbox.exists(path))) return { error: `Error: '${filePath}' not found` };
        await sandbox.rm(path, { recursive: true });
        return { path: filePath, filesUpdate: null };
      } catch (error) {
        toOperationError(error);
        return { error: `Error deleting file '${filePath}': ${messageOf(error)}` };
      }
    },

    async uploadFiles(files: Array<[string, Uint8Array]>): Promise<FileUploadResponse[]> {
      // One after the other: a later file may replace an earlier one or need it as a directory.
      const responses: FileUploadResponse[] = [];
      for (const [path, content] of files) {
        try {
          await sandbox.writeFile(resolve(path), content);
          responses.push({ path, error: null });
        } catch (error) {
          responses.push({ path, error: toOperationError(error) });
        }
      }
      return responses;
    },

    downloadFiles(paths: string[]): Promise<FileDownloadResponse[]> {
      return Promise.all(
        paths.map(async (path): Promise<FileDownloadResponse> => {
          try {
            return { path, content: await sandbox.readFileBuffer(resolve(path)), error: null };
          } catch (error) {
            return { path, content: null, error: toOperationError(error) };
          }
        }),
      );
    },

    async execute(command: string): Promise<ExecuteResponse> {
      const output = new CombinedOutput(maxOutputChars);
      const result = await sandbox.exec(command, {
        timeoutMs,
        onStdout: output.add,
        onStderr: output.add,
        // The output is collected above, interleaved; this only bounds core's own copy.
        maxOutputBytes: maxOutputChars,
      });
      const note = result.timedOut ? `\n[Command timed out after ${timeoutMs} ms and was killed]` : "";
      return { output: output.text() + note, exitCode: result.exitCode, truncated: output.truncated };
    },
  };
}
