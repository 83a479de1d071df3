import { describe, expect, it } from "vitest";
import { generateSshKeyPair } from "./key-pair.js";
import { sshUtils } from "./ssh2-runtime.js";

describe("generateSshKeyPair", () => {
  it("only returns keys ssh2 can parse (its own generator sometimes emits ones it cannot)", () => {
    for (let i = 0; i < 1000; i++) {
      const pair = generateSshKeyPair(i % 2 ? "with-comment" : "");
      expect(sshUtils.parseKey(pair.privateKey)).not.toBeInstanceOf(Error);
      expect(pair.publicKey).toMatch(/^ssh-ed25519 AAAA/);
    }
  });
});
