/**
 * A strict RFC 8259 scanner. `JSON.parse` silently keeps the last of two duplicate keys and
 * accepts unpaired surrogate escapes; the exe.dev server (Go json/v2) rejects both, so a token
 * that passes here must be one the server accepts. It also keeps each top-level member's raw text,
 * because `exp`/`nbf` must be plain integer literals and `JSON.parse` hides how a number was written.
 *
 * Iterative rather than recursive, so deeply nested input cannot overflow the stack.
 */

/** Why some text is not strict JSON; the message never quotes the input. */
export class StrictJsonError extends Error {
  override name = "StrictJsonError";
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4 = /^[0-9A-Fa-f]{4}$/;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

interface Frame {
  kind: "object" | "array";
  keys: Set<string>;
}

/**
 * Checks that `text` is exactly one JSON object with no duplicate keys at any depth and no
 * unpaired surrogates, and returns its members as raw JSON text (trimmed), in order.
 */
export function parseStrictJsonObject(text: string): Map<string, string> {
  let i = 0;
  const stack: Frame[] = [];
  const members = new Map<string, string>();
  let memberKey = "";
  let memberStart = 0;

  const fail = (why: string): never => {
    throw new StrictJsonError(`${why} at offset ${i}`);
  };
  const skipWhitespace = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      i++;
    }
  };
  const expect = (char: string) => {
    if (text[i] !== char) fail(`expected "${char}"`);
    i++;
  };

  const readString = (): string => {
    expect('"');
    let out = "";
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c !== 0x5c) {
        out += text[i];
        i++;
        continue;
      }
      const escaped = text[i + 1] ?? "";
      i += 2;
      const simple = SIMPLE_ESCAPES[escaped];
      if (simple !== undefined) {
        out += simple;
        continue;
      }
      if (escaped !== "u") fail("invalid escape");
      const unit = readHex4();
      if (unit >= 0xdc00 && unit <= 0xdfff) fail("unpaired surrogate");
      if (unit >= 0xd800 && unit <= 0xdbff) {
        if (text[i] !== "\\" || text[i + 1] !== "u") fail("unpaired surrogate");
        i += 2;
        const low = readHex4();
        if (low < 0xdc00 || low > 0xdfff) fail("unpaired surrogate");
        out += String.fromCharCode(unit, low);
      } else {
        out += String.fromCharCode(unit);
      }
    }
  };
  const readHex4 = (): number => {
    const hex = text.slice(i, i + 4);
    if (!HEX4.test(hex)) fail("invalid \\u escape");
    i += 4;
    return Number.parseInt(hex, 16);
  };

  const readKey = () => {
    skipWhitespace();
    const frame = stack[stack.length - 1]!;
    const key = readString();
    if (frame.keys.has(key)) fail("duplicate key");
    frame.keys.add(key);
    skipWhitespace();
    expect(":");
    skipWhitespace();
    if (stack.length === 1) {
      memberKey = key;
      memberStart = i;
    }
  };

  const readScalar = () => {
    const c = text[i];
    if (c === '"') {
      readString();
      return;
    }
    for (const literal of ["true", "false", "null"]) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) fail("invalid value");
    i = NUMBER.lastIndex;
  };

  skipWhitespace();
  if (text[i] !== "{") fail("expected an object");

  // Each turn reads one value; then the inner loop closes containers and moves to the next slot.
  for (;;) {
    skipWhitespace();
    const c = text[i];
    let opened = false;
    if (c === "{" || c === "[") {
      i++;
      stack.push({ kind: c === "{" ? "object" : "array", keys: new Set() });
      skipWhitespace();
      const empty = text[i] === (c === "{" ? "}" : "]");
      if (empty) {
        i++;
        stack.pop();
      } else {
        if (c === "{") readKey();
        opened = true;
      }
    } else {
      readScalar();
    }
    if (opened) continue;

    let next = false;
    while (!next) {
      const frame = stack[stack.length - 1];
      if (!frame) {
        skipWhitespace();
        if (i !== text.length) fail("unexpected text after the object");
        return members;
      }
      if (stack.length === 1) members.set(memberKey, text.slice(memberStart, i));
      skipWhitespace();
      if (text[i] === ",") {
        i++;
        if (frame.kind === "object") readKey();
        next = true;
      } else if (text[i] === (frame.kind === "object" ? "}" : "]")) {
        i++;
        stack.pop();
      } else {
        fail(frame.kind === "object" ? 'expected "," or "}"' : 'expected "," or "]"');
      }
    }
  }
}
