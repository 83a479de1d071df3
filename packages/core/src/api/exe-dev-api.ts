import { invalidArgument, isSandboxError, SandboxError } from "../errors.js";
import { checkDurationMs } from "../validate.js";
import type { LobbyFlags } from "./command-line.js";
import { checkBaseUrl, createExecClient, type ExecClient, type RetryPolicy } from "./exec-client.js";
import { isOutcomeUnknown } from "./http-errors.js";
import type { ParsedResponseBody } from "./response-body.js";
import { backoffDelayMs, sleep } from "./retry-delay.js";
import { createShareCommands, type ShareCommands } from "./share-commands.js";
import { createTagCommands, type TagCommands } from "./tag-commands.js";
import { testKnobsOf } from "./test-knobs.js";
import { unexpectedAnswer } from "./unexpected-answer.js";
import { toVmInfo, toVmList, type VmInfo } from "./vm-info.js";
import { validateVmName } from "./vm-name.js";
import {
  buildCloneVmRequest,
  buildNewVmRequest,
  type CloneVmOptions,
  type NewVmOptions,
  type VmRequest,
} from "./vm-options.js";
import { toWhoAmI, type WhoAmI } from "./whoami.js";

/** Options for {@link createExeDevApi}. */
export interface ExeDevApiOptions {
  /**
   * API token (`exe0.…`, `exe1.…`). Read on the first request, not at construction; a missing
   * token then fails with `auth_failed`. Never appears in errors.
   * @default `$EXE_API_TOKEN`, else `$EXE_API_KEY`
   */
  token?: string;
  /** Where the API lives; `/exec` is appended. @default `$EXE_API_URL`, else "https://exe.dev" */
  baseUrl?: string;
  /** The `fetch` to use, e.g. one with a proxy agent. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Deadline for each request, body included. @default 30000 (exe.dev's own limit per command) */
  timeoutMs?: number;
  /** Retries after the first attempt, for 429s, and for 5xx/network failures where repeating is safe. @default 3 */
  maxRetries?: number;
}

/** The answer of {@link ExeDevApi.removeVm}. */
export interface RemoveVmResult {
  /** VMs deleted, or no longer listed after an answer was lost. */
  deleted: string[];
  /** VMs the server could not delete (unknown, locked, …). */
  failed: string[];
  /** The server's messages for the failures, in order. */
  errors: string[];
}

/** Options for {@link ExeDevApi.removeVm}, passed after the names. */
export interface RemoveVmOptions {
  /**
   * Count a VM that does not exist (any more) as deleted instead of failed, so that deleting
   * twice, or deleting a VM someone else already removed, succeeds. A name the server refused
   * is checked with `ls`: only one no longer listed moves to `deleted`.
   * @default false
   */
  missingOk?: boolean;
}

/**
 * A client for exe.dev's control plane (`POST /exec`). Every method validates its input before
 * any I/O, waits for the client-side rate limiter, and throws {@link SandboxError}s whose
 * messages never contain the token, env values, setup scripts or prompts.
 */
export interface ExeDevApi extends ShareCommands, TagCommands {
  /**
   * Runs a raw lobby command and returns its result: the last JSON line of the answer, or the
   * trimmed text when the answer is not JSON (e.g. `ssh <vm> <cmd>` output).
   *
   * `args` are sent in order, each quoted; `flags` follow them as `--name=value`. Pass flags
   * that way (or as `--name=value` words): a bare `--flag` word swallows the word after it.
   * Read-only commands are retried after 5xx and network failures; others are not.
   *
   * @example
   * await api.run(["tag", "my-vm", "ci"]);
   * await api.run(["resize", "my-vm"], { cpu: 4 });
   */
  run(args: string[], flags?: LobbyFlags): Promise<unknown>;
  /**
   * Creates a VM (`new`). A name is always sent (generated when not given) so that a create
   * whose answer was lost (504, network failure, timeout) is checked with `ls` and the VM
   * returned, instead of creating a second one.
   */
  newVm(options?: NewVmOptions): Promise<VmInfo>;
  /** Lists the account's VMs (`ls`), optionally only those whose name or tag matches a glob. */
  listVms(pattern?: string): Promise<VmInfo[]>;
  /** The VM with exactly this name (`ls <name>`), or undefined. */
  getVm(name: string): Promise<VmInfo | undefined>;
  /**
   * Deletes VMs (`rm`). Per-VM failures are reported in the result, not thrown. After a lost
   * answer, VMs no longer listed count as deleted and only the others are sent again.
   */
  removeVm(...names: string[]): Promise<RemoveVmResult>;
  /**
   * {@link ExeDevApi.removeVm}, with options after the names.
   * @example
   * const { failed } = await api.removeVm("my-vm", { missingOk: true }); // idempotent
   */
  removeVm(...namesAndOptions: [...names: string[], options: RemoveVmOptions]): Promise<RemoveVmResult>;
  /** Clones a VM (`cp`), with the same lost-answer check as {@link ExeDevApi.newVm}. */
  cloneVm(source: string, options?: CloneVmOptions): Promise<VmInfo>;
  /** Stops (if running) and starts a VM (`restart`). */
  restartVm(name: string): Promise<void>;
  /** The account behind the token (`whoami`). */
  whoami(): Promise<WhoAmI>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RETRIES = 3;
const DEFAULT_RETRY_BASE_DELAY_MS = 1000;
const DEFAULT_MAX_RETRY_DELAY_MS = 30_000;

// Commands that only read, or that may run twice without harm: repeated after a lost answer.
const REPEATABLE_COMMANDS = new Set([
  "ls",
  "whoami",
  "help",
  "doc",
  "stat",
  "restart",
  "ssh-key list",
  "share show",
  "integrations list",
  "int list",
  "team members",
  "billing plan",
]);
// Flags whose values are secrets when they appear in a raw `run`.
const SECRET_FLAG = /^--?(env|setup-script|prompt|registry-auth)(?:=(.*))?$/s;
const SECRET_FLAG_NAMES = new Set(["env", "setup-script", "prompt", "registry-auth"]);

function retryPolicyOf(words: readonly string[]): RetryPolicy {
  const [first = "", second = ""] = words;
  return REPEATABLE_COMMANDS.has(first) || REPEATABLE_COMMANDS.has(`${first} ${second}`) ? "safe" : "unsafe";
}

function secretsOfRun(args: readonly string[], flags: LobbyFlags): string[] {
  const secrets: string[] = [];
  const add = (value: unknown) => {
    if (typeof value !== "string") return;
    secrets.push(value);
    const equals = value.indexOf("=");
    if (equals > 0) secrets.push(value.slice(equals + 1));
  };
  args.forEach((word, index) => {
    const match = typeof word === "string" ? SECRET_FLAG.exec(word) : null;
    if (match) add(match[2] ?? args[index + 1]);
  });
  for (const [name, value] of Object.entries(flags)) {
    if (SECRET_FLAG_NAMES.has(name)) (Array.isArray(value) ? value : [value]).forEach(add);
  }
  return secrets;
}

function checkNonNegativeNumber(value: unknown, what: string, integer: boolean): void {
  if (
    value !== undefined &&
    (typeof value !== "number" ||
      !Number.isFinite(value) ||
      value < 0 ||
      (integer && !Number.isInteger(value)))
  ) {
    throw invalidArgument(`${what} must be a ${integer ? "whole" : "finite"} non-negative number.`, {
      [what]: value,
    });
  }
}

function checkPattern(pattern: unknown): string | undefined {
  if (pattern === undefined) return undefined;
  if (
    typeof pattern !== "string" ||
    pattern === "" ||
    pattern.startsWith("-") ||
    /[\s\u0000-\u001f\u007f]/.test(pattern)
  ) {
    throw invalidArgument("pattern must be a VM name, tag or glob without spaces, not starting with '-'.");
  }
  return pattern;
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((item) => typeof item === "string") ? value : undefined;
}

function toRemoveResult(reply: ParsedResponseBody): RemoveVmResult {
  const result = reply.result as { deleted?: unknown; failed?: unknown } | undefined;
  const deleted = stringList(result?.deleted);
  const failed = stringList(result?.failed) ?? [];
  if (typeof result !== "object" || result === null || deleted === undefined) throw unexpectedAnswer("rm");
  return { deleted, failed, errors: reply.errors };
}

/**
 * Creates a client for exe.dev's HTTPS control plane. Nothing is read from the environment
 * and nothing is sent until the first call.
 *
 * Behaviour: requests wait for a client-side token bucket (burst 60, 1/s, exe.dev's per-key
 * limit); 429s are retried with exponential backoff and jitter, honouring `Retry-After`;
 * read-only commands are also retried after 5xx, network failures and timeouts; `new`, `cp`
 * and `rm` never are blindly: after a lost answer the client lists VMs first.
 *
 * @throws SandboxError `invalid_argument` for malformed options.
 * @example
 * const api = createExeDevApi(); // token from EXE_API_TOKEN
 * const vm = await api.newVm({ tags: ["ci"] });
 * try { ... } finally { await api.removeVm(vm.name); }
 */
export function createExeDevApi(options: ExeDevApiOptions = {}): ExeDevApi {
  if (typeof options !== "object" || options === null) {
    throw invalidArgument("createExeDevApi options must be an object.");
  }
  // Only tests can set these (under a private symbol); a user option of the same name is ignored.
  const internal = testKnobsOf(options);
  if (options.token !== undefined && typeof options.token !== "string") {
    throw invalidArgument("token must be a string.");
  }
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw invalidArgument("fetch must be a function.");
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== "function") {
    throw invalidArgument("No global fetch: pass the fetch option (Node 18 or later has one).");
  }
  // Durations go through checkDurationMs: 2^31 ms or more would overflow Node's timers and fire at once.
  checkDurationMs(options.timeoutMs, "timeoutMs");
  if (options.timeoutMs === 0) throw invalidArgument("timeoutMs must be greater than 0.");
  checkNonNegativeNumber(options.maxRetries, "maxRetries", true);
  checkDurationMs(internal.retryBaseDelayMs, "retryBaseDelayMs");
  checkDurationMs(internal.maxRetryDelayMs, "maxRetryDelayMs");

  const client: ExecClient = createExecClient({
    token: options.token,
    baseUrl: options.baseUrl === undefined ? undefined : checkBaseUrl(options.baseUrl, "baseUrl"),
    fetch: fetchImpl,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxRetries: options.maxRetries ?? DEFAULT_MAX_RETRIES,
    retryDelay: {
      baseDelayMs: internal.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS,
      maxDelayMs: internal.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS,
    },
    rateLimit: internal.rateLimit,
  });

  async function listVms(pattern?: string): Promise<VmInfo[]> {
    const checked = checkPattern(pattern);
    const reply = await client.exec({
      words: checked === undefined ? ["ls"] : ["ls", checked],
      retry: "safe",
    });
    // An answer without a VM list must not read as "no VMs": the lost-answer checks rely on it.
    const result = reply.result as { vms?: unknown } | undefined;
    const isList =
      Array.isArray(result) ||
      (typeof result === "object" && result !== null && (Array.isArray(result.vms) || result.vms === null));
    if (!isList) throw unexpectedAnswer("ls");
    return toVmList(reply.result);
  }

  async function getVm(name: string): Promise<VmInfo | undefined> {
    const bare = validateVmName(name);
    // `ls` also matches tags and globs; only an exact name counts.
    return (await listVms(bare)).find((vm) => vm.name === bare);
  }

  /** Sends a create (`new`/`cp`); after a lost answer, looks for the VM by name before sending again. */
  async function createOnce(words: string[], request: VmRequest): Promise<VmInfo> {
    const command = words[0]!;
    for (let retry = 0; ; retry++) {
      try {
        const reply = await client.exec({
          words,
          flags: request.flags,
          secrets: request.secrets,
          retry: "unsafe",
        });
        const vm = toVmInfo(reply.result, request.name);
        if (!vm) throw unexpectedAnswer(command);
        return vm;
      } catch (error) {
        const unknown = isOutcomeUnknown(error);
        // A repeat refused as "name not available" may be refusing our own earlier attempt.
        const repeatRefused = retry > 0 && SandboxError.isInstance(error) && error.details.status === 422;
        if (!unknown && !repeatRefused) throw error;
        let existing: VmInfo | undefined;
        try {
          existing = await getVm(request.name);
        } catch {
          throw error;
        }
        if (existing) return existing;
        if (!unknown || retry >= client.maxRetries) throw error;
        await sleep(backoffDelayMs(retry, client.retryDelay));
      }
    }
  }

  async function removeVm(...args: Array<string | RemoveVmOptions>): Promise<RemoveVmResult> {
    const last = args.at(-1);
    const options = typeof last === "object" && last !== null ? (args.pop() as RemoveVmOptions) : {};
    if (options.missingOk !== undefined && typeof options.missingOk !== "boolean") {
      throw invalidArgument("missingOk must be a boolean.");
    }
    const names = args as string[];
    if (names.length === 0) throw invalidArgument("removeVm needs at least one VM name.");
    const unique = [...new Set(names.map(validateVmName))];
    if (!options.missingOk) return removeListed(unique);
    let result: RemoveVmResult;
    try {
      result = await removeListed(unique);
    } catch (error) {
      if (!isSandboxError(error, "not_found")) throw error;
      result = { deleted: [], failed: unique, errors: [] };
    }
    if (result.failed.length === 0) return result;
    const listed = new Set((await listVms()).map((vm) => vm.name));
    const missing = result.failed.filter((name) => !listed.has(name));
    const mentionsMissing = (message: string) => missing.some((name) => message.includes(`"${name}"`));
    return {
      deleted: [...result.deleted, ...missing],
      failed: result.failed.filter((name) => listed.has(name)),
      errors: result.errors.filter((message) => !mentionsMissing(message)),
    };
  }

  /** `rm`, checking with `ls` after a lost answer and resending only what is still there. */
  async function removeListed(names: string[]): Promise<RemoveVmResult> {
    let remaining = names;
    const gone: string[] = [];
    for (let retry = 0; ; retry++) {
      try {
        const result = toRemoveResult(await client.exec({ words: ["rm", ...remaining], retry: "unsafe" }));
        return { ...result, deleted: [...gone, ...result.deleted] };
      } catch (error) {
        if (!isOutcomeUnknown(error)) throw error;
        let listed: Set<string>;
        try {
          listed = new Set((await listVms()).map((vm) => vm.name));
        } catch {
          throw error;
        }
        gone.push(...remaining.filter((name) => !listed.has(name)));
        remaining = remaining.filter((name) => listed.has(name));
        if (remaining.length === 0) return { deleted: gone, failed: [], errors: [] };
        if (retry >= client.maxRetries) throw error;
        await sleep(backoffDelayMs(retry, client.retryDelay));
      }
    }
  }

  return {
    ...createShareCommands(client),
    ...createTagCommands(client),
    async run(args, flags = {}) {
      if (!Array.isArray(args)) throw invalidArgument('run needs an array of words, e.g. ["ls"].');
      const reply = await client.exec({
        words: args,
        flags,
        secrets: secretsOfRun(args, flags),
        retry: retryPolicyOf(args),
      });
      return reply.result;
    },
    async newVm(vmOptions) {
      return createOnce(["new"], buildNewVmRequest(vmOptions));
    },
    listVms,
    getVm,
    removeVm,
    async cloneVm(source, cloneOptions) {
      const from = validateVmName(source);
      const request = buildCloneVmRequest(cloneOptions);
      return createOnce(["cp", from, request.name], request);
    },
    async restartVm(name) {
      await client.exec({ words: ["restart", validateVmName(name)], retry: "safe" });
    },
    async whoami() {
      return toWhoAmI((await client.exec({ words: ["whoami"], retry: "safe" })).result);
    },
  };
}
