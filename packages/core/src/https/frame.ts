import { invalidArgument } from "../errors.js";
import { encodeBase64 } from "./base64.js";

/** exe.dev's limit on a `/exec` request body. */
export const MAX_BODY_BYTES: number = 64 * 1024;

// Only these characters cross both quoting layers unchanged: the lobby's lexer (which splits on
// whitespace and rejoins with single spaces) and the VM's shell (no globbing, no expansion).
const SAFE_WORD = /^[A-Za-z0-9+/=_.%:-]+$/;

/** Stands for an empty argument: an empty word would vanish when the lobby rejoins the words. */
export const EMPTY_WORD: string = "-";

/**
 * The `/exec` body that runs `script` on `vm` with `args` as its positional parameters.
 * The script travels base64-encoded and is decoded by the VM, so no character of it meets
 * either quoting layer; every argument must already be a safe word (base64, digits, a marker).
 */
export function buildExecBody(vm: string, script: string, args: readonly string[]): string {
  for (const word of args) {
    // A bug here, not bad input: every caller encodes what it passes.
    if (!SAFE_WORD.test(word)) throw new Error("unsafe word in an HTTPS sandbox command line");
  }
  const encoded = encodeBase64(new TextEncoder().encode(script));
  return `ssh ${vm} printf %s ${encoded} | base64 -d | sh -s ${args.join(" ")}`;
}

/** Throws `invalid_argument` when a body would be over exe.dev's 64 KiB limit. */
export function checkBodySize(body: string, what: string): void {
  // The body is ASCII by construction, so its length is its size in bytes.
  if (body.length > MAX_BODY_BYTES) {
    throw invalidArgument(
      `${what} needs a ${body.length}-byte request; exe.dev takes at most ${MAX_BODY_BYTES} bytes per /exec request. Use the SSH sandbox for large inputs.`,
      { bytes: body.length, limitBytes: MAX_BODY_BYTES },
    );
  }
}

/** One line the script printed after its marker: a kind (`EXIT`, `O`, `ERR`, …) and its fields. */
export interface Frame {
  kind: string;
  fields: string[];
}

/**
 * The lines of a response that start with `marker` and a space, split into fields. Everything
 * else (whatever the lobby or a login script prints) is ignored; the marker is random per call,
 * so output that merely looks like a frame never matches.
 */
export function parseFrames(text: string, marker: string): Frame[] {
  const prefix = `${marker} `;
  const frames: Frame[] = [];
  for (const line of text.split("\n")) {
    const clean = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (!clean.startsWith(prefix)) continue;
    const [kind = "", ...fields] = clean.slice(prefix.length).split(" ");
    frames.push({ kind, fields });
  }
  return frames;
}

/** The first frame of `kind`, if any. */
export function findFrame(frames: readonly Frame[], kind: string): Frame | undefined {
  return frames.find((frame) => frame.kind === kind);
}
