import { invalidArgument } from "../errors.js";
import type { ShareLink, ShareStatus } from "../reach.js";
import type { ExecClient, RetryPolicy } from "./exec-client.js";
import { unexpectedAnswer } from "./unexpected-answer.js";
import { validateVmName } from "./vm-name.js";

/** What `share port` answers: the VM, its new proxy port, and whether the main port is public. */
export interface SharePortResult {
  /** The VM. */
  vm: string;
  /** The proxy port the main URL now reaches. */
  port: number;
  /** `"public"` or `"private"`. */
  status: "public" | "private";
}

/** The `share` lobby commands (exe-dev.md §2.2, §5.6), one method each, arguments validated first. */
export interface ShareCommands {
  /** `share show <vm>`: the VM's sharing state. */
  shareShow(vm: string): Promise<ShareStatus>;
  /** `share port <vm> <port>`: the port the main URL reaches. */
  sharePort(vm: string, port: number): Promise<SharePortResult>;
  /** `share set-public <vm>`: the main port is open to anyone with the URL. */
  shareSetPublic(vm: string): Promise<void>;
  /** `share set-private <vm>`: the main port is for the owner and shares only. */
  shareSetPrivate(vm: string): Promise<void>;
  /** `share add <vm> <email>`: shares the VM with an email address. */
  shareAdd(vm: string, email: string): Promise<void>;
  /** `share remove <vm> <email>`: stops sharing with an email address. */
  shareRemove(vm: string, email: string): Promise<void>;
  /** `share add-link <vm>`: a new share link. */
  shareAddLink(vm: string): Promise<ShareLink>;
  /** `share remove-link <vm> <id>`: removes a share link (users it admitted keep access). */
  shareRemoveLink(vm: string, id: string): Promise<void>;
}

const EMAIL = /^[^\s@'"\\,;<>()]+@[^\s@'"\\,;<>()]+\.[^\s@'"\\,;<>()]+$/;
const LINK_ID = /^[A-Za-z0-9._~-]{1,256}$/;

function checkEmail(email: unknown): string {
  if (typeof email !== "string" || email.length > 254 || !EMAIL.test(email)) {
    throw invalidArgument("email must be an email address such as dev@example.com.");
  }
  return email;
}

function checkPort(port: unknown): number {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalidArgument("port must be a whole number from 1 to 65535.", { port });
  }
  return port;
}

function checkLinkId(id: unknown): string {
  if (typeof id !== "string" || !LINK_ID.test(id)) {
    throw invalidArgument(
      "link id must be the id share show or addLink reported (letters, digits, . _ ~ -).",
    );
  }
  return id;
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const textOf = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;

function toLink(value: unknown): ShareLink | undefined {
  if (typeof value === "string") return { id: value, url: value };
  if (!isRecord(value)) return undefined;
  const id = textOf(value.id) ?? textOf(value.token) ?? textOf(value.link_id);
  const url = textOf(value.url) ?? textOf(value.link);
  if (id === undefined && url === undefined) return undefined;
  return { id: id ?? url!, url: url ?? id! };
}

function toUser(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  return isRecord(value) ? (textOf(value.email) ?? textOf(value.user)) : undefined;
}

function toStatus(value: unknown): "public" | "private" | undefined {
  return value === "public" || value === "private" ? value : undefined;
}

function list<T>(value: unknown, map: (item: unknown) => T | undefined): T[] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return undefined;
  const items = value.map(map);
  return items.every((item) => item !== undefined) ? (items as T[]) : undefined;
}

/** `share show` as a {@link ShareStatus}; `users` and `links` may be strings or objects. */
export function toShareStatus(result: unknown, vm: string): ShareStatus {
  if (!isRecord(result)) throw unexpectedAnswer("share show");
  const status = toStatus(result.status) ?? toStatus(result.share);
  const port = typeof result.port === "number" && Number.isInteger(result.port) ? result.port : undefined;
  const users = list(result.users, toUser);
  const links = list(result.links, toLink);
  if (status === undefined || port === undefined || users === undefined || links === undefined) {
    throw unexpectedAnswer("share show");
  }
  return { vm: textOf(result.vm_name) ?? vm, status, port, url: textOf(result.url) ?? "", users, links };
}

/** The `share` commands over an exec client. */
export function createShareCommands(client: ExecClient): ShareCommands {
  const send = async (words: string[], retry: RetryPolicy, secrets: string[] = []) =>
    (await client.exec({ words: ["share", ...words], retry, secrets })).result;
  return {
    async shareShow(vm) {
      const name = validateVmName(vm);
      return toShareStatus(await send(["show", name], "safe"), name);
    },
    async sharePort(vm, port) {
      const name = validateVmName(vm);
      const result = await send(["port", name, String(checkPort(port))], "safe");
      const status = isRecord(result) ? (toStatus(result.share) ?? toStatus(result.status)) : undefined;
      if (!isRecord(result) || result.port !== port || status === undefined)
        throw unexpectedAnswer("share port");
      return { vm: textOf(result.vm_name) ?? name, port, status };
    },
    async shareSetPublic(vm) {
      await send(["set-public", validateVmName(vm)], "safe");
    },
    async shareSetPrivate(vm) {
      await send(["set-private", validateVmName(vm)], "safe");
    },
    async shareAdd(vm, email) {
      const name = validateVmName(vm);
      await send(["add", name, checkEmail(email)], "safe");
    },
    async shareRemove(vm, email) {
      const name = validateVmName(vm);
      await send(["remove", name, checkEmail(email)], "safe");
    },
    async shareAddLink(vm) {
      const result = await send(["add-link", validateVmName(vm)], "unsafe");
      const link = toLink(isRecord(result) && isRecord(result.link) ? result.link : result);
      if (!link) throw unexpectedAnswer("share add-link");
      return link;
    },
    async shareRemoveLink(vm, id) {
      const name = validateVmName(vm);
      const checked = checkLinkId(id);
      // A link id admits anyone who holds it: never echo it in an error.
      await send(["remove-link", name, checked], "unsafe", [checked]);
    },
  };
}
