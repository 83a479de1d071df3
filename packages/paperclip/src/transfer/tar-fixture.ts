import { lstatSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, sep } from "node:path";

/** One member of a hand-made archive; for tests that need orders and duplicates `tar -c` never makes. */
export type FixtureMember =
  | { type: "file"; name: string; content?: string; mode?: number }
  | { type: "directory"; name: string; mode?: number }
  | { type: "symlink" | "hardlink"; name: string; target: string };

const BLOCK = 512;
const FLAGS = { file: "0", hardlink: "1", symlink: "2", directory: "5" } as const;

function header(member: FixtureMember, size: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  const put = (value: string, offset: number, length: number) => {
    const bytes = Buffer.from(value, "utf8");
    if (bytes.length > length) throw new Error(`Fixture field too long: ${value}`);
    bytes.copy(block, offset);
  };
  const octal = (value: number, offset: number, length: number) =>
    put(`${value.toString(8).padStart(length - 1, "0")}\0`, offset, length);
  put(member.name, 0, 100);
  octal("mode" in member && member.mode !== undefined ? member.mode : 0o755, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  block.write(FLAGS[member.type], 156, "latin1");
  if (member.type === "symlink" || member.type === "hardlink") put(member.target, 157, 100);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return block;
}

/** A ustar archive holding exactly `members`, in order. */
export function craftTar(members: FixtureMember[]): Buffer {
  const parts: Buffer[] = [];
  for (const member of members) {
    const content = Buffer.from(member.type === "file" ? (member.content ?? "") : "", "utf8");
    parts.push(header(member, content.length), content);
    const pad = (BLOCK - (content.length % BLOCK)) % BLOCK;
    parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** The real path a possibly dangling path would have: its longest existing prefix resolved, the rest appended. */
function resolvedPath(path: string): string {
  const tail: string[] = [];
  let current = path;
  for (;;) {
    try {
      // .native: the JS realpathSync normalises ".." as text before it looks at any link.
      return join(realpathSync.native(current), ...tail.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      tail.push(current.slice(parent.length + 1));
      current = parent;
    }
  }
}

/**
 * Every symbolic link under `root` whose target, resolved through the file system as it is now,
 * is outside `root`; as "link -> resolved".
 */
export function escapingLinks(root: string): string[] {
  const realRoot = realpathSync.native(root);
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const info = lstatSync(path);
      if (info.isDirectory()) walk(path);
      else if (info.isSymbolicLink()) {
        const target = readlinkSync(path);
        // Not join(): that would resolve ".." as text, which is the very mistake being looked for.
        const resolved = resolvedPath(isAbsolute(target) ? target : `${dirname(path)}/${target}`);
        const inside = relative(realRoot, resolved);
        if (inside === ".." || inside.startsWith(`..${sep}`) || inside.startsWith(sep)) {
          found.push(`${relative(realRoot, path)} -> ${resolved}`);
        }
      }
    }
  };
  walk(realRoot);
  return found;
}
