/** A VM as exe.dev describes it, with the parts needed to reach it over SSH. */
export interface VmInfo {
  /** The VM's name, e.g. `sbx-k3j9x2ab`. */
  name: string;
  /** Host to dial for SSH: the server's `ssh_host`, else the host part of `ssh_dest`. */
  sshHost: string;
  /** Username to send, when routing needs one (e.g. `vm+<name>` on a shared gateway); any name works otherwise. */
  sshUser?: string;
  /** SSH port. @default 22 */
  sshPort: number;
  /** The VM's HTTPS address, e.g. `https://<name>.exe.xyz`. */
  httpsUrl?: string;
  /**
   * The port inside the VM that `httpsUrl` proxies to (`proxy_port`; exeuntu's is 8000). Only
   * `new` reports it; `ls` records leave it out (see `share show` for a VM's current port).
   * @default undefined when the server did not say
   */
  proxyPort?: number;
  /** Lifecycle state as reported: `running`, `stopped`, `pending`, `starting`, … */
  status?: string;
  /** Region code, e.g. `lax`. */
  region?: string;
  /** Tags, sorted as the server sent them; empty when it sent none. */
  tags: string[];
  /** The VM's comment (`comment`, `new --comment`), when it has one. */
  comment?: string;
  /** When the VM was created, as `ls` reports it (RFC 3339). `new` and `cp` answers leave it out. */
  createdAt?: string;
  /** The record exactly as the server sent it, for fields this type does not cover. */
  raw: unknown;
}

type JsonRecord = Record<string, unknown>;

const DEFAULT_SSH_PORT = 22;
// Only a last resort: exe.dev's own fields win, since some VMs route through a gateway instead.
const FALLBACK_HOST_SUFFIX = ".exe.xyz";
const WRAPPER_KEYS = ["vm", "box", "instance", "result", "data"];

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(record: JsonRecord, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const value = record[key];
    if (typeof value === "string" && value.trim() !== "") return value.trim();
  }
  return undefined;
}

function port(value: unknown): number | undefined {
  const number = typeof value === "string" && /^\d+$/.test(value.trim()) ? Number(value) : value;
  return typeof number === "number" && Number.isInteger(number) && number >= 1 && number <= 65535
    ? number
    : undefined;
}

/** Splits `user@host` on the last `@` (a username such as `vm+name` may itself be unusual). */
function splitDestination(destination: string): { host: string; user?: string } {
  const at = destination.lastIndexOf("@");
  if (at === -1) return { host: destination };
  const user = destination.slice(0, at);
  const host = destination.slice(at + 1);
  return user === "" ? { host } : { host, user };
}

/** The destination and `-p` port of an `ssh_command` such as `ssh -p 2222 vm+x@host`. */
function parseSshCommand(command: string): { destination?: string; port?: number } {
  const words = command.split(/\s+/).filter(Boolean);
  if (words[0] === "ssh") words.shift();
  const result: { destination?: string; port?: number } = {};
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    if (word === "-p") {
      result.port = port(words[++index]);
    } else if (word.startsWith("-")) {
      // Other options that take a value would mislead us; their values never look like a host.
      if (/^-[bcDEeFIiJLlmOoQRSWw]$/.test(word)) index++;
    } else if (result.destination === undefined) {
      result.destination = word;
    }
  }
  return result;
}

/** The object that carries the VM fields: the record itself or one of its wrappers (`{vm:{…}}`). */
function unwrap(record: JsonRecord): JsonRecord {
  let current = record;
  for (let depth = 0; depth < 3; depth++) {
    if (text(current, "vm_name", "name") !== undefined) return current;
    const inner = WRAPPER_KEYS.map((key) => current[key]).find(isRecord);
    if (!inner) return current;
    current = inner;
  }
  return current;
}

/**
 * Reads one VM record from any exe.dev answer that describes a VM: `new`, `ls` entries, and `cp`
 * in both its May-2026 shape (`{name, state, source, ssh, elapsed}`) and the `new` shape.
 *
 * The SSH host comes from `ssh_host`, else the host part of `ssh_dest` (or `cp`'s `ssh`, or
 * `ssh_command`); the user part of a `user@host` destination becomes `sshUser` when `ssh_user`
 * is absent. Only when the server sent none of these is `<name>.exe.xyz` assumed.
 *
 * @param fallbackName Name to use when the record carries none (the name just sent to `new`).
 * @returns undefined when the value is not a record or no name is known.
 */
export function toVmInfo(value: unknown, fallbackName?: string): VmInfo | undefined {
  if (!isRecord(value)) return undefined;
  const record = unwrap(value);
  const name = text(record, "vm_name", "name") ?? fallbackName;
  if (name === undefined) return undefined;

  const commandParts = parseSshCommand(text(record, "ssh_command") ?? "");
  const destination = text(record, "ssh_dest", "ssh") ?? commandParts.destination;
  const fromDestination = destination === undefined ? undefined : splitDestination(destination);
  const sshHost = text(record, "ssh_host") ?? fromDestination?.host ?? `${name}${FALLBACK_HOST_SUFFIX}`;
  const sshUser = text(record, "ssh_user") ?? fromDestination?.user;
  const sshPort = port(record.ssh_port) ?? commandParts.port ?? DEFAULT_SSH_PORT;
  const tags = Array.isArray(record.tags)
    ? record.tags.filter((tag): tag is string => typeof tag === "string")
    : [];

  const info: VmInfo = { name, sshHost, sshPort, tags, raw: value };
  if (sshUser !== undefined) info.sshUser = sshUser;
  const httpsUrl = text(record, "https_url");
  if (httpsUrl !== undefined) info.httpsUrl = httpsUrl;
  const status = text(record, "status", "state");
  if (status !== undefined) info.status = status;
  const proxyPort = port(record.proxy_port);
  if (proxyPort !== undefined) info.proxyPort = proxyPort;
  const comment = text(record, "comment");
  if (comment !== undefined) info.comment = comment;
  const createdAt = text(record, "created_at");
  if (createdAt !== undefined) info.createdAt = createdAt;
  const region = text(record, "region");
  if (region !== undefined) info.region = region;
  return info;
}

/** The VMs in an `ls` answer (`{vms:[…]}`, `{vms:null}` or a bare array); records without a name are skipped. */
export function toVmList(value: unknown): VmInfo[] {
  const entries = Array.isArray(value) ? value : isRecord(value) && Array.isArray(value.vms) ? value.vms : [];
  return entries.flatMap((entry) => {
    const info = toVmInfo(entry);
    return info ? [info] : [];
  });
}
