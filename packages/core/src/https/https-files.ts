import { invalidArgument, SandboxError } from "../errors.js";
import type { DirEntry, FileStat } from "../sandbox.js";
import { base64Length, decodeBase64, encodeBase64 } from "./base64.js";
import { EMPTY_WORD, type Frame, findFrame, MAX_BODY_BYTES } from "./frame.js";
import { type HttpsTransport, throwIfFailed } from "./https-transport.js";
import {
  DISCARD_SCRIPT,
  EXISTS_SCRIPT,
  MKDIR_SCRIPT,
  READ_SCRIPT,
  READDIR_SCRIPT,
  RENAME_SCRIPT,
  RM_SCRIPT,
  STAT_SCRIPT,
  WRITE_SCRIPT,
} from "./scripts.js";

/**
 * Raw bytes per write request: their base64 plus the script, the temp path and the marker stay
 * under the 64 KiB body limit with room to spare.
 */
export const WRITE_CHUNK_BYTES: number = 44 * 1024;
/** Bytes per read request (responses have no size limit; this bounds each one's time and memory). */
export const READ_CHUNK_BYTES: number = 4 * 1024 * 1024;

const utf8 = new TextEncoder();
const word = (text: string): string => (text === "" ? EMPTY_WORD : encodeBase64(utf8.encode(text)));

function frameOf(frames: Frame[], kind: string, what: string): Frame {
  const frame = findFrame(frames, kind);
  if (!frame) throw new SandboxError("io_error", `The VM's answer to ${what} was incomplete.`);
  return frame;
}

/** Runs one file script and throws what it reported. */
async function runFileScript(
  transport: HttpsTransport,
  script: string,
  args: string[],
  what: string,
  path: string,
  signal?: AbortSignal,
): Promise<Frame[]> {
  const frames = await transport.run(script, args, what, signal);
  throwIfFailed(frames, what, path);
  return frames;
}

/** stat over HTTPS. */
export async function httpsStat(
  transport: HttpsTransport,
  path: string,
  signal?: AbortSignal,
): Promise<FileStat> {
  const frames = await runFileScript(transport, STAT_SCRIPT, [word(path)], "stat", path, signal);
  const [link, hexMode = "0", size = "0", mtime = "0"] = frameOf(frames, "STAT", "stat").fields;
  const mode = Number.parseInt(hexMode, 16);
  const type = mode & 0o170000;
  return {
    isFile: type === 0o100000,
    isDirectory: type === 0o040000,
    isSymbolicLink: link === "1",
    size: Number(size),
    mtime: new Date(Number(mtime) * 1000),
    mode: mode & 0o7777,
  };
}

/** exists over HTTPS. */
export async function httpsExists(
  transport: HttpsTransport,
  path: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const frames = await runFileScript(transport, EXISTS_SCRIPT, [word(path)], "exists", path, signal);
  return findFrame(frames, "YES") !== undefined;
}

const TYPES: Record<string, DirEntry["type"]> = { f: "file", d: "directory", l: "symlink" };

/** readdir over HTTPS, sorted by name. */
export async function httpsReaddir(
  transport: HttpsTransport,
  path: string,
  signal?: AbortSignal,
): Promise<DirEntry[]> {
  const frames = await runFileScript(transport, READDIR_SCRIPT, [word(path)], "readdir", path, signal);
  const listing = new TextDecoder().decode(decodeBase64(frameOf(frames, "LIST", "readdir").fields.join("")));
  const entries = listing
    .split("\0")
    .filter((record) => record !== "")
    .map((record): DirEntry => {
      const [type = "", size = "0"] = record.split(" ", 2);
      const name = record.slice(type.length + size.length + 2);
      return { name, type: TYPES[type] ?? "other", size: Number(size) };
    });
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** mkdir over HTTPS. */
export async function httpsMkdir(
  transport: HttpsTransport,
  path: string,
  recursive: boolean,
  signal?: AbortSignal,
): Promise<void> {
  await runFileScript(transport, MKDIR_SCRIPT, [word(path), recursive ? "1" : "0"], "mkdir", path, signal);
}

/** rm over HTTPS (the caller refuses `/` and the home directory). */
export async function httpsRm(
  transport: HttpsTransport,
  path: string,
  options: { force: boolean; recursive: boolean },
  signal?: AbortSignal,
): Promise<void> {
  const args = [word(path), options.force ? "1" : "0", options.recursive ? "1" : "0"];
  await runFileScript(transport, RM_SCRIPT, args, "rm", path, signal);
}

/** rename over HTTPS. */
export async function httpsRename(
  transport: HttpsTransport,
  from: string,
  to: string,
  signal?: AbortSignal,
): Promise<void> {
  await runFileScript(transport, RENAME_SCRIPT, [word(from), word(to)], "rename", from, signal);
}

/**
 * Reads a file in {@link READ_CHUNK_BYTES} requests until one comes back short; `too_large`
 * once more than `maxBytes` arrived (so an endless file such as /dev/zero ends too).
 */
export async function httpsReadFile(
  transport: HttpsTransport,
  path: string,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const length = Math.min(READ_CHUNK_BYTES, maxBytes + 1 - total);
    const args = [word(path), String(total), String(length)];
    const frames = await runFileScript(transport, READ_SCRIPT, args, "readFile", path, signal);
    const chunk = decodeBase64(frameOf(frames, "DATA", "readFile").fields.join(""));
    chunks.push(chunk);
    total += chunk.length;
    if (total > maxBytes) {
      throw new SandboxError("too_large", `readFile: ${path} is larger than maxBytes (${maxBytes}).`, {
        details: { path, maxBytes },
      });
    }
    if (chunk.length < length) break;
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

/**
 * Writes a file as base64 chunks of {@link WRITE_CHUNK_BYTES}: the first request makes the
 * parents and a temp file beside the target, each appends, the last sets the mode and renames
 * atomically. A failure or abort part-way removes the temp file (best effort).
 */
export async function httpsWriteFile(
  transport: HttpsTransport,
  path: string,
  data: Uint8Array,
  mode: number | undefined,
  signal?: AbortSignal,
): Promise<void> {
  if (base64Length(WRITE_CHUNK_BYTES) + 4096 > MAX_BODY_BYTES) throw invalidArgument("write chunk too large");
  let temp = EMPTY_WORD;
  const modeWord = mode === undefined ? EMPTY_WORD : mode.toString(8);
  try {
    for (let offset = 0; offset === 0 || offset < data.length; offset += WRITE_CHUNK_BYTES) {
      const chunk = data.subarray(offset, offset + WRITE_CHUNK_BYTES);
      const last = offset + WRITE_CHUNK_BYTES >= data.length;
      const args = [
        word(path),
        temp,
        chunk.length === 0 ? EMPTY_WORD : encodeBase64(chunk),
        last ? "1" : "0",
        modeWord,
      ];
      const frames = await runFileScript(transport, WRITE_SCRIPT, args, "writeFile", path, signal);
      if (last) return;
      temp = frameOf(frames, "TMP", "writeFile").fields.join("");
    }
  } catch (error) {
    if (temp !== EMPTY_WORD) void transport.run(DISCARD_SCRIPT, [temp], "writeFile cleanup").catch(() => {});
    throw error;
  }
}
