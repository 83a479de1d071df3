import { readSync } from "node:fs";
import { corruptArchive } from "./archive-errors.js";

/** One member of a tar archive, with long names (GNU `L`/`K`, PAX `path`/`linkpath`) applied. */
export interface TarEntry {
  /** The member's path as stored (not yet checked or normalised). */
  name: string;
  /** What the member is; devices, FIFOs and other special files are "other" and never extracted. */
  type: "file" | "directory" | "symlink" | "hardlink" | "other";
  /** Permission bits as stored. */
  mode: number;
  /** Bytes of content (files only). */
  size: number;
  /** Link target (symlinks and hardlinks). */
  linkName: string;
  /** Where the content starts in the archive file. */
  dataOffset: number;
}

const BLOCK = 512;
// Long-name and PAX records are read whole; real ones are a few hundred bytes.
const MAX_META_BYTES = 1 << 20;

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString("utf8");
}

/** A numeric field: octal digits, or GNU base-256 when the top bit of the first byte is set. */
function number(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if ((field[0]! & 0x80) !== 0) {
    let value = field[0]! & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const digits = field
    .toString("latin1")
    .replace(/[\0 ]+$/, "")
    .trim();
  if (!/^[0-7]*$/.test(digits))
    throw corruptArchive("Corrupt tar archive: a numeric header field is not octal.");
  return digits === "" ? 0 : Number.parseInt(digits, 8);
}

function checksumMatches(block: Buffer): boolean {
  const stored = number(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let index = 0; index < BLOCK; index++) {
    const byte = index >= 148 && index < 156 ? 0x20 : block[index]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** PAX extended-header records: `"<length> <key>=<value>\n"`, repeated. */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    const length = Number(data.subarray(offset, space).toString("latin1"));
    if (space === -1 || !Number.isInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1).toString("utf8");
    const equals = record.indexOf("=");
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    offset += length;
  }
  return records;
}

function typeOf(flag: string): TarEntry["type"] {
  if (flag === "0" || flag === "\0" || flag === "7" || flag === "") return "file";
  if (flag === "5") return "directory";
  if (flag === "2") return "symlink";
  if (flag === "1") return "hardlink";
  return "other";
}

const WINDOW_BYTES = 1 << 20;

/**
 * Positional reads of an archive through a 1 MiB read-ahead window, so that 5,000 small members
 * cost a handful of reads, not two each. Synchronous: the extractor's calls are cheap and many,
 * and it yields to the event loop itself.
 */
export class ArchiveReader {
  readonly #fd: number;
  #window = Buffer.alloc(0);
  #start = 0;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** Up to `length` bytes at `offset` (fewer only at the end); valid until the next call. */
  read(offset: number, length: number): Buffer {
    const end = offset + length;
    if (offset >= this.#start && end <= this.#start + this.#window.length) {
      return this.#window.subarray(offset - this.#start, end - this.#start);
    }
    const buffer = Buffer.alloc(Math.max(length, WINDOW_BYTES));
    let filled = 0;
    while (filled < buffer.length) {
      const bytesRead = readSync(this.#fd, buffer, filled, buffer.length - filled, offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.#window = buffer.subarray(0, filled);
    this.#start = offset;
    return this.#window.subarray(0, Math.min(length, filled));
  }
}

function readMeta(reader: ArchiveReader, offset: number, size: number): Buffer {
  if (size > MAX_META_BYTES)
    throw corruptArchive("Corrupt tar archive: an extended header is implausibly large.");
  const data = reader.read(offset, size);
  if (data.length < size) throw corruptArchive("Truncated tar archive.");
  return Buffer.from(data);
}

/**
 * Reads the members of a tar archive (ustar, GNU and PAX), without their content: each entry says
 * where its bytes are, so the caller reads them from the same reader. Throws on a corrupt or
 * truncated archive.
 */
export function* readTarEntries(reader: ArchiveReader): Generator<TarEntry> {
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    const block = Buffer.from(reader.read(offset, BLOCK));
    if (block.length === 0 || block.every((byte) => byte === 0)) return;
    if (block.length < BLOCK) throw corruptArchive("Truncated tar archive.");
    if (!checksumMatches(block))
      throw corruptArchive("Corrupt tar archive: a header checksum does not match.");
    const flag = String.fromCharCode(block[156]!);
    const size = number(block, 124, 12);
    const dataOffset = offset + BLOCK;
    offset = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    if (flag === "L" || flag === "K") {
      const value = text(readMeta(reader, dataOffset, size), 0, size);
      if (flag === "L") longName = value;
      else longLink = value;
      continue;
    }
    if (flag === "x") {
      pax = paxRecords(readMeta(reader, dataOffset, size));
      continue;
    }
    if (flag === "g") continue;
    // POSIX ustar splits long names into prefix + name; GNU's "ustar  " header has no prefix field.
    const prefix = block.subarray(257, 263).toString("latin1") === "ustar\0" ? text(block, 345, 155) : "";
    const stored = prefix ? `${prefix}/${text(block, 0, 100)}` : text(block, 0, 100);
    const paxSize = pax.get("size");
    yield {
      name: pax.get("path") ?? longName ?? stored,
      type: typeOf(flag),
      mode: number(block, 100, 8) & 0o7777,
      size: paxSize !== undefined && /^\d+$/.test(paxSize) ? Number(paxSize) : size,
      linkName: pax.get("linkpath") ?? longLink ?? text(block, 157, 100),
      dataOffset,
    };
    if (paxSize !== undefined && /^\d+$/.test(paxSize)) {
      offset = dataOffset + Math.ceil(Number(paxSize) / BLOCK) * BLOCK;
    }
    longName = undefined;
    longLink = undefined;
    pax = new Map();
  }
}
