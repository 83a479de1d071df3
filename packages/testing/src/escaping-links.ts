import { lstatSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, sep } from "node:path";

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
