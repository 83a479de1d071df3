import { posix } from "node:path";
import { refusedMember } from "./archive-errors.js";

/**
 * A member name as components under the root (none for the root itself), or an error. Any `..`
 * is refused, not just one that climbs out: resolved as text (`s1/../x` as `x`) a name can mean
 * another file than the kernel would find once links are in the tree.
 */
export function memberComponents(name: string, what: string): string[] {
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (name.includes("\0") || posix.isAbsolute(name) || parts.includes("..")) {
    throw refusedMember(
      `Refusing a tar ${what} that leaves the target directory: ${JSON.stringify(name)}.`,
      name,
    );
  }
  return parts;
}

/**
 * Checks a symlink's target as text, for a link at `linkDepth` directories below the root. Only
 * leading `..` (no more than the link's depth) may climb, because they climb through the real
 * directories above the link. A `..` after any other component is refused: it would climb from
 * wherever that component leads, and a component can be a link (to `.`, say) made earlier or
 * later in the archive. With every link in the tree of this shape, each resolves inside the root
 * in any order of extraction.
 */
export function checkLinkTarget(name: string, target: string, linkDepth: number): void {
  const refuse = (why: string) => {
    throw refusedMember(`Refusing a tar symlink ${why}: ${JSON.stringify(name)}.`, name);
  };
  if (target === "" || target.includes("\0")) refuse("with an empty or malformed target");
  if (posix.isAbsolute(target)) refuse("with an absolute target");
  let climbs = 0;
  let descended = false;
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") descended = true;
    else if (descended || ++climbs > linkDepth)
      refuse("with a symlink target that leaves the target directory");
  }
}
