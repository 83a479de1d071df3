import { compileGlob } from "@exedev-sandbox/core";

/** Whether a VM name or tag matches one `ls` argument. */
export type LsMatcher = (text: string) => boolean;

/**
 * One `ls` argument as a shell-style glob (`*`, `?`, `[a-z]`) over the whole name, matched in
 * linear time by core's `compileGlob` (a regular expression built from `*a*a*a*a*b` backtracks
 * for seconds on a long name). A pattern the glob syntax refuses (`[z-a]`, an unclosed class)
 * matches only itself, literally, as exe.dev treats names that are not patterns.
 */
export function lsMatcher(pattern: string): LsMatcher {
  try {
    const glob = compileGlob(pattern, { pathSeparator: false, braces: false });
    return (text) => glob.test(text);
  } catch {
    return (text) => text === pattern;
  }
}
