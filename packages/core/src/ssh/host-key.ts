import { createHash, createHmac } from "node:crypto";
import { accessSync, appendFileSync, constants, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { invalidArgument, SandboxError } from "../errors.js";
import { compileGlob } from "../glob/glob-match.js";

/**
 * How the server's host key is checked.
 * - `"accept-new"`: trust on first use. Unknown hosts are added to known_hosts; a changed key is refused.
 * - `"strict"`: the host must already be in known_hosts with this key.
 * - `"off"`: accept any key (only for throwaway test servers).
 * - `{ sha256 }`: accept only the key with this OpenSSH fingerprint (`SHA256:...`).
 */
export type HostKeyPolicy = "accept-new" | "strict" | "off" | { sha256: string };

/** The OpenSSH `SHA256:` fingerprint of a wire-format public key. */
export function fingerprintOf(keyBlob: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

function normaliseFingerprint(value: string): string {
  const bare = value.startsWith("SHA256:") ? value.slice(7) : value;
  return `SHA256:${bare.replace(/=+$/, "")}`;
}

/** Checks a policy option before any I/O. */
export function checkHostKeyPolicy(policy: unknown): HostKeyPolicy {
  if (policy === undefined) return "accept-new";
  if (policy === "accept-new" || policy === "strict" || policy === "off") return policy;
  if (
    typeof policy === "object" &&
    policy !== null &&
    typeof (policy as { sha256?: unknown }).sha256 === "string"
  ) {
    const fingerprint = normaliseFingerprint((policy as { sha256: string }).sha256);
    if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(fingerprint)) {
      throw invalidArgument('hostKey.sha256 must be an OpenSSH fingerprint such as "SHA256:JJOP/lwi...".');
    }
    return { sha256: fingerprint };
  }
  throw invalidArgument('hostKey must be "accept-new", "strict", "off" or { sha256: "SHA256:..." }.');
}

/** Whether a policy reads (and, for `accept-new`, writes) the known_hosts file. */
export function policyReadsKnownHosts(policy: HostKeyPolicy): boolean {
  return policy === "accept-new" || policy === "strict";
}

/** The configuration error for a known_hosts file that cannot be used; names the option. */
function knownHostsError(path: string, problem: string): SandboxError {
  return invalidArgument(`knownHostsPath (${path}) ${problem}; give the path of a known_hosts file.`, {
    option: "knownHostsPath",
  });
}

function fsCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? "error";
}

/**
 * Checks before the first connect that `knownHostsPath` can be read: a missing file is fine
 * (`accept-new` creates it), a directory or an unreadable file is `invalid_argument`.
 */
export function checkKnownHostsPath(path: string): void {
  if (path.includes("\0")) throw invalidArgument("knownHostsPath must not contain NUL bytes.");
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    if (fsCode(error) === "ENOENT") return;
    throw knownHostsError(path, `cannot be read (${fsCode(error)})`);
  }
  if (isDirectory) throw knownHostsError(path, "is a directory");
  try {
    accessSync(path, constants.R_OK);
  } catch (error) {
    throw knownHostsError(path, `cannot be read (${fsCode(error)})`);
  }
}

/** The name known_hosts uses for a host: `host`, or `[host]:port` for ports other than 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type named at the start of a wire-format key blob (`ssh-ed25519`, ...). */
function keyTypeOf(keyBlob: Uint8Array): string {
  const buffer = Buffer.from(keyBlob);
  if (buffer.length < 4) return "unknown";
  const length = buffer.readUInt32BE(0);
  return buffer.subarray(4, 4 + length).toString("latin1");
}

interface KnownHostEntry {
  marker: "" | "@revoked" | "@cert-authority";
  patterns: string;
  keyType: string;
  keyBase64: string;
}

function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry["marker"] = "";
    if (fields[0] === "@revoked" || fields[0] === "@cert-authority")
      marker = fields.shift() as KnownHostEntry["marker"];
    const [patterns, keyType, keyBase64] = fields;
    if (patterns && keyType && keyBase64) entries.push({ marker, patterns, keyType, keyBase64 });
  }
  return entries;
}

// OpenSSH patterns know only * and ?; "[" and "]" are literal, as in "[host]:port". Matched by
// the linear-time matcher: a regex from "*a*a*a*a*b" backtracks for seconds on a long name.
const HOST_PATTERN = { pathSeparator: false, classes: false, braces: false, ignoreCase: true } as const;
const hostPatternMatches = (pattern: string, name: string): boolean =>
  compileGlob(pattern, HOST_PATTERN).test(name);

/** Whether a known_hosts host field (comma-separated patterns, or one hashed `|1|` name) names `name`. */
function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return false;
    const digest = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return digest === hash;
  }
  let matched = false;
  for (const pattern of field.split(",")) {
    if (pattern.startsWith("!")) {
      if (hostPatternMatches(pattern.slice(1), name)) return false;
    } else if (hostPatternMatches(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

// One process may open many sandboxes to one host at once; record a new host only once.
const recordedThisProcess = new Set<string>();

/** Checks server host keys against a policy, remembering why it refused one. */
export class HostKeyVerifier {
  /** Set when the last check refused the key: the fingerprint the server showed. */
  refusedFingerprint: string | undefined;
  refusedReason: "changed" | "unknown" | "revoked" | "pinned" | undefined;
  /** Set when the known_hosts file could not be read or written: a configuration error. */
  configError: SandboxError | undefined;

  constructor(
    private readonly policy: HostKeyPolicy,
    private readonly knownHostsPath: string,
    private readonly host: string,
    private readonly port: number,
  ) {}

  /** Whether the last check refused the key or could not be made: see {@link HostKeyVerifier.error}. */
  get failed(): boolean {
    return this.refusedReason !== undefined || this.configError !== undefined;
  }

  /** ssh2's `hostVerifier`: true to continue the handshake. */
  verify(keyBlob: Uint8Array): boolean {
    this.refusedFingerprint = undefined;
    this.refusedReason = undefined;
    this.configError = undefined;
    try {
      return this.check(keyBlob);
    } catch (error) {
      // The file changed since connect-time checks (or cannot be written for accept-new).
      this.configError = SandboxError.isInstance(error)
        ? error
        : knownHostsError(this.knownHostsPath, `cannot be used (${fsCode(error)})`);
      return false;
    }
  }

  private check(keyBlob: Uint8Array): boolean {
    const fingerprint = fingerprintOf(keyBlob);
    const policy = this.policy;
    if (policy === "off") return true;
    if (typeof policy === "object") {
      if (fingerprint === policy.sha256) return true;
      return this.refuse(fingerprint, "pinned");
    }
    const name = knownHostsName(this.host, this.port);
    const keyType = keyTypeOf(keyBlob);
    const keyBase64 = Buffer.from(keyBlob).toString("base64");
    const entries = this.readEntries().filter((entry) => hostFieldMatches(entry.patterns, name));
    if (entries.some((e) => e.marker === "@revoked" && e.keyBase64 === keyBase64)) {
      return this.refuse(fingerprint, "revoked");
    }
    const plain = entries.filter((e) => e.marker === "");
    if (plain.some((e) => e.keyType === keyType && e.keyBase64 === keyBase64)) return true;
    // Known under any key type but not this key: refuse, rather than let a changed server pick
    // a key type we have no record of (stricter than OpenSSH, which may prompt here).
    if (plain.length > 0) return this.refuse(fingerprint, "changed");
    if (policy === "strict") return this.refuse(fingerprint, "unknown");
    this.record(name, keyType, keyBase64);
    return true;
  }

  /** The error for a refused key; names the fingerprint seen, never key material. */
  error(): SandboxError {
    if (this.configError) return this.configError;
    const seen = this.refusedFingerprint ?? "unknown";
    const target = knownHostsName(this.host, this.port);
    const why = {
      changed: `the host key of ${target} changed (server shows ${seen}); if the change is expected, remove the old entry from ${this.knownHostsPath}`,
      unknown: `${target} is not in ${this.knownHostsPath} and hostKey is "strict" (server shows ${seen})`,
      revoked: `the host key of ${target} is marked @revoked in ${this.knownHostsPath} (server shows ${seen})`,
      pinned: `the host key of ${target} does not match the pinned fingerprint (server shows ${seen})`,
    }[this.refusedReason ?? "changed"];
    return new SandboxError("host_key_mismatch", `Host key refused: ${why}.`, {
      details: { host: this.host, port: this.port, fingerprint: seen, reason: this.refusedReason },
    });
  }

  private refuse(fingerprint: string, reason: NonNullable<HostKeyVerifier["refusedReason"]>): false {
    this.refusedFingerprint = fingerprint;
    this.refusedReason = reason;
    return false;
  }

  private readEntries(): KnownHostEntry[] {
    try {
      return parseKnownHosts(readFileSync(this.knownHostsPath, "utf8"));
    } catch (error) {
      if (fsCode(error) === "ENOENT") return [];
      if (fsCode(error) === "EISDIR") throw knownHostsError(this.knownHostsPath, "is a directory");
      throw knownHostsError(this.knownHostsPath, `cannot be read (${fsCode(error)})`);
    }
  }

  private record(name: string, keyType: string, keyBase64: string): void {
    const line = `${name} ${keyType} ${keyBase64}`;
    const key = `${this.knownHostsPath}\n${line}`;
    if (recordedThisProcess.has(key)) return;
    mkdirSync(dirname(this.knownHostsPath), { recursive: true, mode: 0o700 });
    appendFileSync(this.knownHostsPath, `${line}\n`, { mode: 0o600 });
    recordedThisProcess.add(key);
  }
}
