import { execFile } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Options for {@link packDirectory}. */
export interface PackOptions {
  /** Host directory whose contents are packed (not the directory itself). */
  source: string;
  /** Archive file to write. */
  archive: string;
  /** tar `--exclude` patterns. @default [] */
  exclude?: string[];
  /** Archive what symlinks point to instead of the links (`tar -h`). @default false */
  followSymlinks?: boolean;
}

/**
 * Packs a host directory's contents with the host's `tar`, as Paperclip's own sync fallback does:
 * members are named relative to the directory, with no entry for the directory itself.
 */
export async function packDirectory(options: PackOptions): Promise<void> {
  const entries = (await readdir(options.source)).sort();
  if (entries.length === 0) {
    // tar refuses to create an empty archive; two zero blocks are a valid one.
    await writeFile(options.archive, Buffer.alloc(1024));
    return;
  }
  const args = [
    "-c",
    ...(options.followSymlinks ? ["-h"] : []),
    "-f",
    options.archive,
    "-C",
    options.source,
    ...(options.exclude ?? []).map((pattern) => `--exclude=${pattern}`),
    "--",
    ...entries,
  ];
  // COPYFILE_DISABLE keeps macOS tar from adding AppleDouble "._" members.
  await execFileAsync("tar", args, { env: { ...process.env, COPYFILE_DISABLE: "1" }, maxBuffer: 1 << 24 });
}
