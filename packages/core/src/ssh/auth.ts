import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { AnyAuthMethod } from "ssh2";
import { invalidArgument, SandboxError } from "../errors.js";
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

/** Credentials in the order they are offered, plus notes on keys that were skipped. */
export interface ResolvedAuth {
  credentials: Credential[];
  skipped: string[];
}

function tryParse(material: Buffer | string, passphrase: string | undefined): "ok" | "encrypted" | "invalid" {
  const parsed = utils.parseKey(material, passphrase);
  if (!(parsed instanceof Error)) return "ok";
  return /encrypted|passphrase/i.test(parsed.message) ? "encrypted" : "invalid";
}

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
    const state = tryParse(material, passphrase);
    if (state === "ok") {
      credentials.push(
        new Credential(label, { type: "publickey", username, key: material, passphrase } as never),
      );
      return;
    }
    const why =
      state === "encrypted" ? "is encrypted; pass `passphrase`" : "is not a private key ssh2 can read";
    if (explicit) throw invalidArgument(`The key from ${label} ${why}.`);
    skipped.push(`${label} (${why})`);
  };

  const addKeyFile = (label: string, path: string, explicit: boolean): void => {
    if (seenFiles.has(path)) return;
    seenFiles.add(path);
    let material: Buffer;
    try {
      material = readFileSync(path);
    } catch (error) {
      if (explicit) {
        throw invalidArgument(
          `Cannot read the SSH key at ${label}: ${(error as NodeJS.ErrnoException).code ?? "error"}.`,
        );
      }
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
  const envKey = env.EXE_SSH_KEY;
  if (envKey) addKeyFile(`$EXE_SSH_KEY (${envKey})`, envKey, true);
  const home = env.HOME || homedir();
  for (const name of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
    addKeyFile(`~/.ssh/${name}`, join(home, ".ssh", name), false);
  }
  const sock = env.SSH_AUTH_SOCK;
  if (sock && sock !== options.agent && existsSync(sock)) {
    credentials.push(new Credential(`$SSH_AUTH_SOCK (${sock})`, { type: "agent", username, agent: sock }));
  }
  return { credentials, skipped };
}

/** The one error for "nothing worked", listing what was tried (labels only, never key material). */
export function authFailedError(resolved: ResolvedAuth, username: string, host: string): SandboxError {
  const tried = resolved.credentials.map((c) => c.label);
  const parts = [
    tried.length > 0 ? `tried ${tried.join(", ")}` : "no credentials were found",
    resolved.skipped.length > 0 ? `skipped ${resolved.skipped.join(", ")}` : "",
  ].filter(Boolean);
  return new SandboxError(
    "auth_failed",
    `SSH authentication as ${username}@${host} failed (${parts.join("; ")}). Pass privateKey, privateKeyPath or agent, or set EXE_SSH_KEY.`,
    { details: { username, host, tried, skipped: resolved.skipped } },
  );
}
