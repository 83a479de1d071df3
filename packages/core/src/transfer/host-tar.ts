import { execFile } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import { SandboxError } from "../errors.js";

/** Longest part of host tar's stderr quoted in an error. */
const MAX_QUOTED_STDERR = 500;

/** Options for {@link packDirectory}. */
export interface PackOptions {
  /** Host directory whose contents are packed (not the directory itself). */
  source: string;
  /** Archive file to write. */
  archive: string;
  /** tar `--exclude` patterns. @default [] */
  exclude?: readonly string[];
  /** Archive what symlinks point to instead of the links (`tar -h`). @default false */
  followSymlinks?: boolean;
  /** Aborting kills the host tar. */
  signal?: AbortSignal;
}

/**
 * Packs a host directory's contents with the host's `tar`: members are named relative to the
 * directory, with no entry for the directory itself. Symlinks are archived as links, as they are.
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
  await new Promise<void>((resolve, reject) => {
    execFile(
      "tar",
      args,
      {
        // COPYFILE_DISABLE keeps macOS tar from adding AppleDouble "._" members.
        env: { ...process.env, COPYFILE_DISABLE: "1" },
        maxBuffer: 1 << 24,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (error, _stdout, stderr) => {
        if (!error) return resolve();
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ABORT_ERR") {
          reject(new SandboxError("aborted", "The directory transfer was aborted.", { cause: error }));
        } else if (code === "ENOENT") {
          reject(
            new SandboxError(
              "unsupported",
              "Directory transfers need `tar` on this machine (the host), and none was found on PATH; install tar (GNU tar or bsdtar).",
              { cause: error },
            ),
          );
        } else {
          const quoted = String(stderr).trim().slice(0, MAX_QUOTED_STDERR);
          reject(
            new SandboxError(
              "io_error",
              `Packing ${options.source} with the host's tar failed${quoted ? `: ${quoted}` : ""}.`,
              {
                details: { path: options.source },
                retryable: false,
              },
            ),
          );
        }
      },
    );
  });
}
