/**
 * The contract every transport implements and every framework adapter consumes. Paths are
 * absolute POSIX paths on the remote machine unless a method says otherwise.
 */

/** Options for {@link Sandbox.exec}. */
export interface ExecOptions {
  /** Absolute directory to run in. A directory that does not exist gives a non-zero exit and a `cd` message on stderr. @default the login directory */
  cwd?: string;
  /** Extra environment variables. Names must be shell identifiers; values are quoted, never interpreted. */
  env?: Record<string, string>;
  /** Bytes or UTF-8 text written to the command's stdin, followed by EOF. @default no input (immediate EOF) */
  stdin?: string | Uint8Array;
  /** Deadline in ms. When it passes the remote process and its children are killed and the call resolves with exit code 124 and `timedOut: true`. @default no deadline */
  timeoutMs?: number;
  /** Aborting kills the remote process and its children and rejects with code `aborted`. */
  signal?: AbortSignal;
  /** Called with each decoded stdout chunk as it arrives (multi-byte characters are never split). */
  onStdout?: (chunk: string) => void;
  /** Called with each decoded stderr chunk as it arrives. */
  onStderr?: (chunk: string) => void;
  /** Most bytes kept per stream; the rest is dropped and `truncated` is set. Streaming callbacks still see everything. @default 10 MiB */
  maxOutputBytes?: number;
}

/** What a finished command produced. A non-zero exit is data, never an exception. */
export interface ExecResult {
  /** The exit status; 124 on timeout; 128 + n when killed by signal n. */
  exitCode: number;
  /** Standard output, UTF-8 decoded. */
  stdout: string;
  /** Standard error, UTF-8 decoded. */
  stderr: string;
  /** True when `timeoutMs` passed and the command was killed. */
  timedOut: boolean;
  /** True when stdout or stderr went over `maxOutputBytes` and was cut. */
  truncated: boolean;
  /** Wall time from the call to the result, in ms. */
  durationMs: number;
}

/** File metadata, as the server reports it. Nothing is ever made up. */
export interface FileStat {
  /** A regular file. */
  isFile: boolean;
  /** A directory. */
  isDirectory: boolean;
  /** A symbolic link (`stat` follows links, so this is only true from `lstat`-style calls). */
  isSymbolicLink: boolean;
  /** Size in bytes. */
  size: number;
  /** Last modification time (the server has one-second resolution). */
  mtime: Date;
  /** Permission bits, e.g. `0o644`. */
  mode: number;
}

/** One entry of {@link Sandbox.readdir}. */
export interface DirEntry {
  /** The entry's name, without its directory. */
  name: string;
  /** What kind of entry it is (links are not followed). */
  type: "file" | "directory" | "symlink" | "other";
  /** Size in bytes as the server reports it. */
  size: number;
}

/** Options for {@link Sandbox.readFile} and {@link Sandbox.readFileBuffer}. */
export interface ReadFileOptions {
  /**
   * Most bytes read; a longer file (or an endless one such as `/dev/zero`) rejects with
   * `too_large` before more is held in memory. Use `downloadFile` for large files.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
}

/** Options for {@link Sandbox.writeFile}. */
export interface WriteFileOptions {
  /** Permission bits for the file, e.g. `0o755`. @default 0o644 for new files; an existing file keeps its mode */
  mode?: number;
}

/** Options for {@link Sandbox.mkdir}. */
export interface MkdirOptions {
  /** Create missing parents, and succeed when the directory exists. @default false */
  recursive?: boolean;
}

/** Options for {@link Sandbox.rm}. */
export interface RmOptions {
  /** Remove directories and their contents. @default false */
  recursive?: boolean;
  /** Succeed when the path does not exist. @default false */
  force?: boolean;
}

/**
 * A remote machine an agent can use: run commands and work with files.
 *
 * Errors are {@link SandboxError}s: `not_found` for a missing path, `invalid_argument` for bad
 * input (before any I/O), `sandbox_died` when the machine is gone for good.
 */
export interface Sandbox {
  /** Runs `command` through the login shell. Resolves for any exit status; rejects only for transport errors, bad input and aborts. */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Reads a whole file as UTF-8 text. Rejects with `too_large` past `maxBytes`, `is_a_directory` for a directory. */
  readFile(path: string, options?: ReadFileOptions): Promise<string>;
  /** Reads a whole file, byte-exact. Rejects with `too_large` past `maxBytes`, `is_a_directory` for a directory. */
  readFileBuffer(path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  /** Writes a file atomically (temp file, then rename), creating missing parent directories. */
  writeFile(path: string, data: string | Uint8Array, options?: WriteFileOptions): Promise<void>;
  /** Metadata of a path, following symbolic links. Rejects with `not_found` when missing. */
  stat(path: string): Promise<FileStat>;
  /** Entries of a directory, without `.` and `..`, sorted by name. */
  readdir(path: string): Promise<DirEntry[]>;
  /** Whether the path exists. Never rejects for a missing path. */
  exists(path: string): Promise<boolean>;
  /** Creates a directory. */
  mkdir(path: string, options?: MkdirOptions): Promise<void>;
  /** Removes a file, link or directory. Refuses `/` and the home directory. */
  rm(path: string, options?: RmOptions): Promise<void>;
  /** Renames a path, replacing an existing file at `to`. */
  rename(from: string, to: string): Promise<void>;
  /** Copies a local file to the remote machine (pipelined; never buffered whole). */
  uploadFile(localPath: string, remotePath: string): Promise<void>;
  /** Copies a remote file to the local machine (pipelined; never buffered whole). */
  downloadFile(remotePath: string, localPath: string): Promise<void>;
  /** The remote login directory (`$HOME`), known once connected. */
  readonly homeDir: string;
  /** Closes the connection. Safe to call more than once. */
  close(): Promise<void>;
}
