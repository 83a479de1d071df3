import { afterAll, describe, expect, it } from "vitest";
import { inspectToken } from "./inspect-token.js";
import { parsePayload } from "./payload.js";
import {
  exposedText,
  sandboxErrorOf,
  scratchDir,
  sshKeygenKey,
  sshKeygenToken,
} from "./token-test-support.js";
import { verifyToken } from "./verify-token.js";

const { dir, cleanup } = scratchDir("token-payload");
afterAll(cleanup);
const key = sshKeygenKey(dir, "ed25519");

/** A token over exactly these payload bytes, validly signed by ssh-keygen. */
const signedToken = (payload: string) => sshKeygenToken(key.path, payload);

describe("payloads the server accepts", () => {
  const accepted: Array<[string, object]> = [
    ["{}", {}],
    ['{"exp":4102444800}', { exp: 4102444800 }],
    ['{"nbf":946684800,"exp":4102444800}', { nbf: 946684800, exp: 4102444800 }],
    ['{"cmds":[]}', { cmds: [] }],
    [
      '{"cmds":["ls","ssh-key list","share set-public"]}',
      { cmds: ["ls", "ssh-key list", "share set-public"] },
    ],
    ['{"ctx":null}', { ctx: null }],
    [
      '{"ctx":{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}}',
      { ctx: { a: { a: { a: 1 } }, b: [{ a: 1 }, { a: 2 }] } },
    ],
    [
      '{"ctx":[1.5e3,-0,"\\u00e9\\ud83d\\ude00\\u0000",true,false]}',
      { ctx: [1500, -0, "é😀\u0000", true, false] },
    ],
    // Go's json/v2 treats null as "absent" for exp, nbf and cmds.
    ['{"exp":null,"nbf":null,"cmds":null}', {}],
    // Not compact, but the server only forbids outer whitespace and newlines.
    ['{ "exp" : 4102444800 ,\t"cmds": [ "ls" ] }', { exp: 4102444800, cmds: ["ls"] }],
    ['{"ctx":"é 😀"}', { ctx: "é 😀" }],
    ['{"ctx":{"__proto__":{"polluted":true}}}', { ctx: JSON.parse('{"__proto__":{"polluted":true}}') }],
  ];

  it.each(accepted)("accepts %s (signed by ssh-keygen)", (payload, permissions) => {
    const token = signedToken(payload);
    expect(verifyToken(token, key.publicKey, { nowSeconds: 1_800_000_000 }).permissions).toEqual(permissions);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

describe("payloads the server rejects are invalid_argument, even when validly signed", () => {
  const rejected: Array<[string, RegExp]> = [
    ['{"foo":1}', /unknown field "foo"/],
    ['{"EXP":4102444800}', /unknown field "EXP"/],
    ['{"exp":1700000000.0}', /exp must be a plain integer/],
    ['{"exp":1.7e9}', /exp must be a plain integer/],
    ['{"exp":17E8}', /exp must be a plain integer/],
    ['{"exp":"1700000000"}', /exp must be a plain integer/],
    ['{"exp":true}', /exp must be a plain integer/],
    ['{"exp":01700000000}', /not valid JSON/],
    ['{"exp":+1700000000}', /not valid JSON/],
    ['{"exp":946684799}', /exp must be between 946684800/],
    ['{"exp":4102444801}', /exp must be between/],
    ['{"exp":-1700000000}', /exp must be between/],
    ['{"exp":99999999999999999999999}', /exp must be between/],
    ['{"nbf":1.5}', /nbf must be a plain integer/],
    ['{"nbf":0}', /nbf must be between/],
    ['{"cmds":[""]}', /cmds must be an array of non-empty strings/],
    ['{"cmds":["ls",""]}', /cmds must be an array of non-empty strings/],
    ['{"cmds":"ls"}', /cmds must be an array/],
    ['{"cmds":[1]}', /cmds must be an array/],
    ['{"cmds":[null]}', /cmds must be an array/],
    ['{"exp":4102444800,"exp":4102444800}', /duplicate key/],
    ['{"ctx":{"a":1,"a":2}}', /duplicate key/],
    ['{"ctx":[{"x":{"a":1,"b":{"c":1,"c":1}}}]}', /duplicate key/],
    ['{"ctx":{"a":1,"\\u0061":2}}', /duplicate key/],
    ['{"ctx":"\\ud800"}', /unpaired surrogate/],
    ['{"ctx":"\\udc00x"}', /unpaired surrogate/],
    [" {}", /leading or trailing whitespace/],
    ["{} ", /leading or trailing whitespace/],
    ["{}\t", /leading or trailing whitespace/],
    ['{"ctx":\n1}', /newlines/],
    ['{"ctx":\r1}', /newlines/],
    ['{"ctx":"a\u0000b"}', /NUL/],
    ["[]", /must be a JSON object/],
    ['"x"', /must be a JSON object/],
    ["", /must be a JSON object/],
    ["{", /not valid JSON/],
    ['{"ctx":}', /not valid JSON/],
    ['{"ctx":1,}', /not valid JSON/],
    ['{"ctx":[1,]}', /not valid JSON/],
    ['{"ctx":1}{}', /not valid JSON/],
    ['{"ctx":"\t"}', /not valid JSON/],
    ['{"ctx":NaN}', /not valid JSON/],
    ["{'ctx':1}", /not valid JSON/],
    ['{"ctx":"\\x41"}', /not valid JSON/],
  ];

  it.each(rejected)("rejects %j", (payload, message) => {
    const token = signedToken(payload);
    for (const check of [() => verifyToken(token, key.publicKey), () => inspectToken(token)]) {
      const error = sandboxErrorOf(check);
      expect(error.code).toBe("invalid_argument");
      expect(error.message).toMatch(message);
      expect(exposedText(error)).not.toContain(token.split(".")[2]!.slice(0, 16));
    }
  });

  it("rejects payloads that are not UTF-8", () => {
    const error = sandboxErrorOf(() => parsePayload(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])));
    expect(error.message).toMatch(/UTF-8/);
  });

  it("rejects tokens over 8192 bytes before decoding them", () => {
    const payload = JSON.stringify({ ctx: "x".repeat(6000) });
    const token = signedToken(payload);
    expect(token.length).toBeGreaterThan(8192);
    const error = sandboxErrorOf(() => verifyToken(token, key.publicKey));
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toMatch(/longer than 8192 bytes/);
    // Bytes, not UTF-16 units, as the server counts them.
    const wide = `exe0.${"é".repeat(4100)}`;
    expect(wide.length).toBeLessThan(8192);
    expect(sandboxErrorOf(() => inspectToken(wide)).message).toMatch(/8192 bytes/);
  });
});

describe("deep nesting", () => {
  it("handles deeply nested ctx without overflowing the stack", () => {
    const depth = 2500;
    const payload = `{"ctx":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    expect(() => parsePayload(Buffer.from(payload))).not.toThrow();
    const unbalanced = `{"ctx":${"[".repeat(depth)}${"]".repeat(depth - 1)}}`;
    expect(sandboxErrorOf(() => parsePayload(Buffer.from(unbalanced))).message).toMatch(/not valid JSON/);
  });
});
