import type { Options } from "tsup";

/**
 * The build every published package shares: ESM for Node 22+, declarations, source maps.
 * `dtsEntry` narrows declarations when some entries (a CLI) need none.
 */
export function libraryConfig(entry: string[], dtsEntry?: string | string[]): Options {
  return {
    entry,
    format: ["esm"],
    target: "node22",
    dts: dtsEntry ? { entry: dtsEntry } : true,
    sourcemap: true,
    clean: true,
    // The in-VM agent (core's agent.pl) is bundled as a string: it travels over the connection.
    loader: { ".pl": "text" },
  };
}
