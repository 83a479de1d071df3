import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AnyAuthMethod } from "ssh2";
import { invalidArgument, SandboxError } from "../errors.js";
import { DEFAULT_KEY_FILES, expandHome, homeDir } from "./home-path.js";
import { isPkcs8, pkcs8ForSsh2 } from "./pkcs8-key.js";
import { sshUtils as utils } from "./ssh2-runtime.js";

/** What {@link resolveAuth} needs from the connect options. */
export interface AuthOptions {
  username: string;
  privateKey?: string | Uint8Array;
  privateKeyPath?: string;
  passphrase?: string;
  agent?: string;
}

/**
 * One credential to offer, with a label for error messages. The auth method (key material,
 * passphrase, agent socket) lives in a private field, so `console.log` and `util.inspect` of
 * anything holding a credential never show it; the label is private as well, since it can name
 * an agent socket.
 */
class Credential {
  readonly #method: AnyAuthMethod;
  readonly #label: string;

  constructor(label: string, method: AnyAuthMethod) {
    this.#label = label;
    this.#method = method;
  }

  get label(): string {
    return this.#label;
  }

  get method(): AnyAuthMethod {
    return this.#method;
  }
}

/**
 * Credentials in the order they are offered, plus every source that gave none, each with the
 * reason (`~/.ssh/id_ecdsa (/home/me/.ssh/id_ecdsa): not found`), for the error that lists them.
 */
export interface ResolvedAuth {
  credentials: Credential[];
  skipped: string[];
}

type Parsed = { state: "ok"; material: Buffer | string } | { state: "encrypted" | "invalid" | "unsupported" };

function tryParse(material: Buffer | string, passphrase: string | undefined): Parsed {
  if (isPkcs8(material)) {
    const converted = pkcs8ForSsh2(material, passphrase);
    if (converted.state !== "converted") return converted;
    material = converted.material;
  }
  const parsed = utils.parseKey(material, passphrase);
  if (!(parsed instanceof Error)) return { state: "ok", material };
  return { state: /encrypted|passphrase/i.test(parsed.message) ? "encrypted" : "invalid" };
}

const WHY_UNUSABLE = {
  encrypted: "is encrypted; pass `passphrase`",
  invalid: "is not a private key ssh2 can read",
  unsupported: "is a kind of key SSH cannot use (only Ed25519, ECDSA and RSA)",
} as const;

/**
 * Builds the ordered credential list: explicit `privateKey`, then `agent`, then `privateKeyPath`,
 * then `$EXE_SSH_KEY`, then `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`, then `$SSH_AUTH_SOCK`.
 * Explicit options that cannot work are `invalid_argument` errors; default key files that cannot
 * be used are skipped and noted. Keys are read into memory only, never written anywhere.
 */
export function resolveAuth(options: AuthOptions, env: NodeJS.ProcessEnv = process.env): ResolvedAuth {
  const { username, passphrase } = options;
  const credentials: Credential[] = [];
  const skipped: string[] = [];
  const seenFiles = new Set<string>();

  const addKey = (label: string, material: Buffer | string, explicit: boolean): void => {
    const parsed = tryParse(material, passphrase);
    if (parsed.state === "ok") {
      credentials.push(
        new Credential(label, { type: "publickey", username, key: parsed.material, passphrase } as never),
      );
      return;
    }
    const why = WHY_UNUSABLE[parsed.state];
    if (explicit) throw invalidArgument(`The key from ${label} ${why}.`);
    skipped.push(`${label}: ${why}`);
  };

  const addKeyFile = (label: string, path: string, explicit: boolean): void => {
    if (seenFiles.has(path)) return;
    seenFiles.add(path);
    let material: Buffer;
    try {
      material = readFileSync(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      if (explicit) throw invalidArgument(`Cannot read the SSH key at ${label}: ${code}.`);
      skipped.push(`${label}: ${code === "ENOENT" ? "not found" : `cannot be read (${code})`}`);
      return;
    }
    addKey(label, material, explicit);
  };

  if (options.privateKey !== undefined) {
    const key = options.privateKey;
    if (typeof key !== "string" && !(key instanceof Uint8Array)) {
      throw invalidArgument("privateKey must be a string or bytes holding an OpenSSH or PEM private key.");
    }
    addKey("the privateKey option", typeof key === "string" ? key : Buffer.from(key), true);
  }
  if (options.agent !== undefined) {
    if (typeof options.agent !== "string" || options.agent === "") {
      throw invalidArgument("agent must be the path of an SSH agent socket.");
    }
    credentials.push(
      new Credential(`the agent at ${options.agent}`, { type: "agent", username, agent: options.agent }),
    );
  }
  if (options.privateKeyPath !== undefined) {
    addKeyFile(`privateKeyPath (${options.privateKeyPath})`, options.privateKeyPath, true);
  }
  if (
    options.privateKey === undefined &&
    options.agent === undefined &&
    options.privateKeyPath === undefined
  ) {
    skipped.push("the privateKey, privateKeyPath and agent options: not given");
  }
  const envKey = env.EXE_SSH_KEY;
  if (envKey) addKeyFile(`$EXE_SSH_KEY (${envKey})`, expandHome(envKey, env), true);
  else skipped.push("$EXE_SSH_KEY: not set");
  const home = homeDir(env);
  for (const name of DEFAULT_KEY_FILES) {
    const path = join(home, ".ssh", name);
    addKeyFile(`~/.ssh/${name} (${path})`, path, false);
  }
  const sock = env.SSH_AUTH_SOCK;
  if (!sock) skipped.push("$SSH_AUTH_SOCK: not set");
  else if (sock !== options.agent && !existsSync(sock))
    skipped.push(`$SSH_AUTH_SOCK (${sock}): no such socket`);
  else if (sock !== options.agent) {
    credentials.push(new Credential(`$SSH_AUTH_SOCK (${sock})`, { type: "agent", username, agent: sock }));
  }
  return { credentials, skipped };
}

/** How to get a working key, for the error that says none worked. */
const HOW_TO_FIX = `To fix it: create a key (\`ssh-keygen -t ed25519\`), register it with exe.dev (run \`ssh exe.dev\` once, or \`ssh exe.dev ssh-key add < ~/.ssh/id_ed25519.pub\`), then pass privateKeyPath (or privateKey, or agent) or set EXE_SSH_KEY to the key's path. For the local emulator, use the EXE_SSH_KEY its command line prints.`;

/**
 * The one error for "nothing worked": every source looked at, each with what became of it
 * (offered and refused, not found, not set, unreadable), then how to fix it. Labels name paths
 * and variables only, never key material.
 */
export function authFailedError(resolved: ResolvedAuth, username: string, host: string): SandboxError {
  const tried = resolved.credentials.map((c) => c.label);
  const lines = [
    ...tried.map((label) => `  - ${label}: offered, the server refused it`),
    ...resolved.skipped.map((note) => `  - ${note}`),
  ];
  const summary = tried.length > 0 ? "no key was accepted" : "no usable key was found";
  return new SandboxError(
    "auth_failed",
    `SSH authentication as ${username}@${host} failed: ${summary}. Looked at:\n${lines.join("\n")}\n${HOW_TO_FIX}`,
    { details: { username, host, tried, skipped: resolved.skipped } },
  );
}
