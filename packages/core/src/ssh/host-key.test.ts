import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  checkHostKeyPolicy,
  checkKnownHostsPath,
  fingerprintOf,
  HostKeyVerifier,
  knownHostsName,
} from "./host-key.js";
import { generateSshKeyPair } from "./key-pair.js";

const dir = mkdtempSync(join(tmpdir(), "exedev-hostkey-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key = generateSshKeyPair().publicKey; // "ssh-ed25519 AAAA... comment"
const blob = Buffer.from(key.split(" ")[1] ?? "", "base64");

function verifierFor(knownHosts: string, host = "vm.exe.xyz", port = 22) {
  const path = join(dir, `${Math.random()}`);
  writeFileSync(path, knownHosts);
  return new HostKeyVerifier("strict", path, host, port);
}

describe("known_hosts matching", () => {
  it("names hosts as OpenSSH does", () => {
    expect(knownHostsName("a.example", 22)).toBe("a.example");
    expect(knownHostsName("127.0.0.1", 2222)).toBe("[127.0.0.1]:2222");
  });

  it("matches wildcards and comma lists, honours negation", () => {
    expect(verifierFor(`*.exe.xyz ${key}\n`).verify(blob)).toBe(true);
    expect(verifierFor(`other,vm.exe.xyz ${key}\n`).verify(blob)).toBe(true);
    expect(verifierFor(`*.exe.xyz,!vm.exe.xyz ${key}\n`).verify(blob)).toBe(false);
    expect(verifierFor(`vm?exe?xyz ${key}\n`).verify(blob)).toBe(true);
    expect(verifierFor(`# comment\n\nvmXexe.xyz ${key}\n`).verify(blob)).toBe(false);
  });

  it("treats brackets literally", () => {
    expect(verifierFor(`[vm.exe.xyz]:2222 ${key}\n`, "vm.exe.xyz", 2222).verify(blob)).toBe(true);
    expect(verifierFor(`[vm.exe.xyz]:2222 ${key}\n`, "v", 2222).verify(blob)).toBe(false);
  });

  it("computes OpenSSH fingerprints", () => {
    expect(fingerprintOf(blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it("normalises pinned fingerprints with or without the prefix", () => {
    const bare = fingerprintOf(blob).slice(7);
    expect(checkHostKeyPolicy({ sha256: bare })).toEqual({ sha256: fingerprintOf(blob) });
    expect(checkHostKeyPolicy(undefined)).toBe("accept-new");
  });
});

describe("known_hosts that cannot be used", () => {
  it("a file that became a directory after the connect-time check is a configuration error", () => {
    const path = mkdtempSync(join(dir, "became-dir-"));
    const verifier = new HostKeyVerifier("strict", path, "vm.exe.xyz", 22);
    expect(verifier.verify(blob)).toBe(false);
    expect(verifier.failed).toBe(true);
    const error = verifier.error();
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toContain(`knownHostsPath (${path}) is a directory`);
  });

  it("checkKnownHostsPath accepts a missing file and refuses directories", () => {
    expect(() => checkKnownHostsPath(join(dir, "missing", "known_hosts"))).not.toThrow();
    expect(() => checkKnownHostsPath(dir)).toThrow(/knownHostsPath/);
  });
});
