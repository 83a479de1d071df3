import { invalidArgument } from "../errors.js";
import type { ExecClient } from "./exec-client.js";
import { unexpectedAnswer } from "./unexpected-answer.js";
import { validateVmName } from "./vm-name.js";

/** What `tag` answers: the VM and all its tags afterwards, sorted. */
export interface TagVmResult {
  /** The VM. */
  vm: string;
  /** Every tag the VM now carries, sorted and de-duplicated by exe.dev. */
  tags: string[];
}

/** The lobby commands that label a VM (exe-dev.md §2): `tag` and `comment`. */
export interface TagCommands {
  /** `tag <vm> <tag>...`: adds tags (already present ones are fine). */
  tagVm(vm: string, tags: readonly string[]): Promise<TagVmResult>;
  /** `tag -d <vm> <tag>...`: removes tags (absent ones are fine). */
  untagVm(vm: string, tags: readonly string[]): Promise<TagVmResult>;
  /** `comment <vm> <text>`: sets the VM's comment (at most 200 bytes, no control characters). */
  setComment(vm: string, text: string): Promise<void>;
}

const TAG = /^[a-z][a-z0-9_-]*$/;
const MAX_COMMENT_BYTES = 200;

/** Checks one tag against exe.dev's syntax; throws `invalid_argument` naming the rule. */
export function checkTag(tag: unknown, what = "tag"): string {
  if (typeof tag !== "string" || tag.length > 64 || !TAG.test(tag)) {
    throw invalidArgument(`${what} must match ${TAG.source} (at most 64 characters).`);
  }
  return tag;
}

function checkTags(tags: unknown): string[] {
  if (!Array.isArray(tags) || tags.length === 0) throw invalidArgument("tags must be a non-empty array.");
  return tags.map((tag) => checkTag(tag));
}

function checkComment(text: unknown): string {
  if (typeof text !== "string" || /[\u0000-\u001f\u007f]/.test(text)) {
    throw invalidArgument("comment must be a string without newlines, tabs or control characters.");
  }
  if (Buffer.byteLength(text) > MAX_COMMENT_BYTES) {
    throw invalidArgument(`comment must be at most ${MAX_COMMENT_BYTES} bytes.`);
  }
  return text;
}

function toResult(result: unknown, vm: string): TagVmResult {
  const record = typeof result === "object" && result !== null ? (result as Record<string, unknown>) : {};
  const tags = record.tags ?? [];
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === "string")) throw unexpectedAnswer("tag");
  return { vm: typeof record.vm_name === "string" ? record.vm_name : vm, tags: [...tags].sort() };
}

/** The `tag` and `comment` commands over an exec client; adding or removing a tag twice is harmless. */
export function createTagCommands(client: ExecClient): TagCommands {
  return {
    async tagVm(vm, tags) {
      const name = validateVmName(vm);
      const words = ["tag", name, ...checkTags(tags)];
      return toResult((await client.exec({ words, retry: "safe" })).result, name);
    },
    async untagVm(vm, tags) {
      const name = validateVmName(vm);
      const words = ["tag", "-d", name, ...checkTags(tags)];
      return toResult((await client.exec({ words, retry: "safe" })).result, name);
    },
    async setComment(vm, text) {
      const name = validateVmName(vm);
      await client.exec({ words: ["comment", name, checkComment(text)], retry: "safe" });
    },
  };
}
