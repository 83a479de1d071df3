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
  /**
   * Run the command in a login shell (`$SHELL -l -c`), so that what `/etc/profile`,
   * `/etc/profile.d/*` (where exe.dev writes a VM's `env`) and `~/.bash_profile` or `~/.profile`
   * set up (PATH, nvm or pyenv when initialised there) is there. `cwd` and `env` are applied after
   * the profile, so they win. Costs the profile's run time on every command.
   * @default false
   */
  loginShell?: boolean;
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
  /**
   * The path itself is a symbolic link. {@link Sandbox.stat} follows links for everything else
   * (a link to a file has `isFile: true` and the file's size) and sets this from the link.
   */
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
  /** Aborting rejects with code `aborted` at once and stops the transfer on the server. @default no signal */
  signal?: AbortSignal;
}

/** Options for {@link Sandbox.writeFile}. */
export interface WriteFileOptions {
  /** Permission bits for the file, e.g. `0o755`. @default 0o644 for new files; an existing file keeps its mode */
  mode?: number;
  /**
   * Aborting rejects with code `aborted` at once. The file then holds its old content (or does not
   * exist), and the temp file is removed; only an abort that comes after the last byte was sent
   * may still see the new content land, whole. @default no signal
   */
  signal?: AbortSignal;
}

/** Options for {@link Sandbox.mkdir}. */
export interface MkdirOptions {
  /** Create missing parents, and succeed when the directory exists. @default false */
  recursive?: boolean;
  /** Aborting rejects with code `aborted` at once. @default no signal */
  signal?: AbortSignal;
}

/** Options for {@link Sandbox.rm}. */
export interface RmOptions {
  /** Remove directories and their contents. @default false */
  recursive?: boolean;
  /** Succeed when the path does not exist. @default false */
  force?: boolean;
  /** Aborting rejects with code `aborted` at once (entries already removed stay removed). @default no signal */
  signal?: AbortSignal;
}

/**
 * Options of the file methods that have no others ({@link Sandbox.stat}, `readdir`, `exists`,
 * `rename`, `uploadFile`, `downloadFile`).
 */
export interface FileOptions {
  /**
   * Aborting rejects with code `aborted` at once, also through a connection that stopped
   * answering. An aborted upload leaves the old remote file (or none) and no temp file; an
   * aborted download leaves no local file. @default no signal
   */
  signal?: AbortSignal;
}

/** Options for {@link Sandbox.readFileStream}. */
export interface ReadFileStreamOptions {
  /** Aborting rejects the call, or errors the stream, with code `aborted`, and stops the transfer on the server. @default no signal */
  signal?: AbortSignal;
}

/** Options for {@link Sandbox.writeFileStream}. */
export interface WriteFileStreamOptions {
  /** Permission bits for the file, as in {@link WriteFileOptions.mode}. @default 0o644 for new files; an existing file keeps its mode */
  mode?: number;
  /** Aborting errors the stream with code `aborted` and removes the temp file; the old content stays. @default no signal */
  signal?: AbortSignal;
}

/**
 * Options for {@link Sandbox.uploadDirectory} and {@link Sandbox.downloadDirectory}.
 */
export interface DirectoryTransferOptions {
  /**
   * tar `--exclude` patterns, given to the `tar` on the side that packs (the host's for an
   * upload, the VM's for a download): shell wildcards (`*`, `?`, `[...]`) matched against each
   * member's path relative to the directory and against each of its trailing parts, so
   * `"node_modules"` drops every `node_modules` directory and `"*.log"` every log file. This is
   * tar's syntax, not {@link compileGlob}'s (GNU tar's `*` also matches `/`). Patterns must not be empty.
   * @default []
   */
  exclude?: readonly string[];
  /** Copy what symbolic links point to instead of the links (tar `-h`). @default false */
  followSymlinks?: boolean;
  /** Aborting stops the transfer and rejects with `aborted`; see the methods for what is left. */
  signal?: AbortSignal;
}

/** What {@link Sandbox.uploadDirectory} or {@link Sandbox.downloadDirectory} moved. */
export interface DirectoryTransferResult {
  /** Regular files, symbolic links and hard links moved (directories not counted). */
  files: number;
  /** Bytes of regular-file content moved. */
  bytes: number;
}

/** A signal {@link SandboxProcess.kill} can send. */
export type ProcessSignal = "SIGKILL" | "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGQUIT" | "SIGUSR1" | "SIGUSR2";

/** Options for {@link Sandbox.spawn}: those of `exec` that make sense for a running process, plus `detached`. */
export interface SpawnOptions {
  /** Absolute directory to run in, as {@link ExecOptions.cwd}. @default the login directory */
  cwd?: string;
  /** Extra environment variables, as {@link ExecOptions.env}. @default none */
  env?: Record<string, string>;
  /** Run in a login shell, as {@link ExecOptions.loginShell}. @default false */
  loginShell?: boolean;
  /**
   * Most bytes per stream that {@link SandboxProcess.output} and {@link SandboxProcess.wait}
   * return (the newest are kept); iterating `stdout`/`stderr` still sees everything while it keeps up.
   * @default 1048576 (1 MiB)
   */
  maxOutputBytes?: number;
  /**
   * Deadline in ms, enforced on the VM (so it holds when the client has gone): the process and its
   * children are killed, and `wait()` resolves with exit code 124 and `timedOut: true`.
   * @default no deadline
   */
  timeoutMs?: number;
  /**
   * Aborting rejects a pending `spawn` with `aborted`; once started, it kills a process that is
   * not detached (a detached one is only ever killed by {@link SandboxProcess.kill} or its deadline).
   * @default no signal
   */
  signal?: AbortSignal;
  /**
   * Keep running when the call, the sandbox or the whole client process goes away. Its output
   * stays on the VM (the last 1 MiB per stream, readable only by the user) and
   * {@link Sandbox.listProcesses} / {@link Sandbox.attachProcess} find it from any client.
   * A process that is not detached is killed with its children when its sandbox closes.
   * @default false
   */
  detached?: boolean;
}

/** What {@link SandboxProcess.output} returns: the newest kept output of each stream. */
export interface ProcessOutput {
  stdout: string;
  stderr: string;
  /** True when older output was dropped (past `maxOutputBytes`, or past what the VM keeps). */
  truncated: boolean;
}

/** One entry of {@link Sandbox.listProcesses}. */
export interface ProcessInfo {
  /** The id {@link Sandbox.attachProcess} takes. */
  id: string;
  /** The process's pid on the VM (it leads its own process group). */
  pid: number;
  /** The command as given to `spawn`. */
  command: string;
  /** Whether it was spawned with `detached: true`. */
  detached: boolean;
  /** True until it has exited. */
  running: boolean;
  /** Its exit status once it has exited (124 after its deadline, 128 + n when killed by signal n). */
  exitCode: number | undefined;
  /** When it started. */
  startedAt: Date;
  /** When it exited, once it has. */
  endedAt: Date | undefined;
}

/**
 * A process started by {@link Sandbox.spawn} or found again by {@link Sandbox.attachProcess}.
 * Its output iterables each start from the oldest output still kept and end when it exits;
 * iterate both (or neither) so that one does not fall behind.
 */
export interface SandboxProcess {
  /** Its id in the VM's process table (for {@link Sandbox.attachProcess}). */
  readonly id: string;
  /** Its pid on the VM. */
  readonly pid: number;
  /** The command as given to `spawn`. */
  readonly command: string;
  /** Whether it outlives its sandbox (see {@link SpawnOptions.detached}). */
  readonly detached: boolean;
  /** Its standard output, UTF-8 decoded (multi-byte characters never split). */
  readonly stdout: AsyncIterable<string>;
  /** Its standard error, UTF-8 decoded. */
  readonly stderr: AsyncIterable<string>;
  /** Its standard output, byte-exact. */
  readonly stdoutBytes: AsyncIterable<Uint8Array>;
  /** Its standard error, byte-exact. */
  readonly stderrBytes: AsyncIterable<Uint8Array>;
  /** Writes to its stdin; resolves once the VM has taken the bytes. Rejects with `closed` after `closeStdin()` or its exit. */
  write(data: string | Uint8Array): Promise<void>;
  /** Closes its stdin (the process reads end of file). Safe to call more than once. */
  closeStdin(): Promise<void>;
  /** Resolves when it has exited, with `exec`'s result shape (output bounded by `maxOutputBytes`). */
  wait(): Promise<ExecResult>;
  /**
   * Sends `signal` to its whole process group. `SIGKILL` (the default) also kills every
   * descendant that left the group, as a timed-out `exec` does. Resolves once the signal is sent;
   * use `wait()` for the exit. A process that already exited is left alone.
   * @default "SIGKILL"
   */
  kill(signal?: ProcessSignal): Promise<void>;
  /** What it has printed so far, the newest `maxOutputBytes` per stream. */
  output(): Promise<ProcessOutput>;
}

/** Options for {@link Sandbox.waitForPort}. */
export interface WaitForPortOptions {
  /** How long to wait; rejects with `timeout` after it. @default 30000 */
  timeoutMs?: number;
  /** Aborting rejects with `aborted`. @default no signal */
  signal?: AbortSignal;
}

/** Options for {@link Sandbox.waitForOutput}. */
export interface WaitForOutputOptions {
  /** How long to wait; rejects with `timeout` after it. @default 30000 */
  timeoutMs?: number;
  /** Which stream to watch. @default "both" */
  stream?: "stdout" | "stderr" | "both";
  /** Aborting rejects with `aborted`. @default no signal */
  signal?: AbortSignal;
}

/** Options for {@link Sandbox.openTerminal}. */
export interface TerminalOptions {
  /** Columns. @default 80 */
  cols?: number;
  /** Rows. @default 24 */
  rows?: number;
  /** Command to run in the terminal. @default the user's login shell */
  command?: string;
  /** Extra environment variables (names must be shell identifiers). @default none */
  env?: Record<string, string>;
  /** Absolute directory to start in. @default the login directory */
  cwd?: string;
  /** The `TERM` value. @default "xterm-256color" */
  term?: string;
}

/**
 * A terminal with a pseudo-terminal on the VM (full-screen programs work). `readable` and
 * `writable` form a duplex byte stream: `Duplex.fromWeb(terminal)` turns it into a Node stream.
 */
export interface SandboxTerminal {
  /** What the terminal prints (the program's output and the echo of what was typed). */
  readonly readable: ReadableStream<Uint8Array>;
  /** Keystrokes for the terminal. */
  readonly writable: WritableStream<Uint8Array>;
  /** Types `data` into the terminal (a shortcut for writing to `writable`). */
  write(data: string | Uint8Array): Promise<void>;
  /** Changes the terminal's size; the program gets `SIGWINCH`. */
  resize(cols: number, rows: number): Promise<void>;
  /** Resolves with the program's exit status when it ends (128 + n when killed by signal n). */
  wait(): Promise<{ exitCode: number }>;
  /** Ends the terminal, killing what still runs in it. Safe to call more than once. */
  close(): Promise<void>;
}

/** Options for {@link Sandbox.openShell}. */
export interface ShellOptions {
  /** Absolute directory the session starts in. @default the login directory */
  cwd?: string;
  /** Environment variables the session starts with. @default none */
  env?: Record<string, string>;
  /** Start the session as a login shell (see {@link ExecOptions.loginShell}). @default false */
  loginShell?: boolean;
}

/** Options for {@link SandboxShell.run}. */
export interface ShellRunOptions {
  /** Deadline in ms: kills only this command (the session stays usable); the result has exit code 124 and `timedOut: true`. @default no deadline */
  timeoutMs?: number;
  /** Aborting kills only this command and rejects with `aborted`. @default no signal */
  signal?: AbortSignal;
  /** Most bytes kept per stream, as {@link ExecOptions.maxOutputBytes}. @default 10 MiB */
  maxOutputBytes?: number;
  /** Called with each decoded stdout chunk as it arrives. */
  onStdout?: (chunk: string) => void;
  /** Called with each decoded stderr chunk as it arrives. */
  onStderr?: (chunk: string) => void;
}

/**
 * A persistent shell session: `cd`, `export`, shell variables and functions carry over from
 * one `run` to the next. Runs take turns, in the order they were called.
 */
export interface SandboxShell {
  /** Runs `command` in the session; resolves with `exec`'s result shape for any exit status. */
  run(command: string, options?: ShellRunOptions): Promise<ExecResult>;
  /** Ends the session and what runs in it. Safe to call more than once. */
  close(): Promise<void>;
}

/**
 * A remote machine an agent can use: run commands and work with files.
 *
 * Errors are {@link SandboxError}s: `not_found` for a missing path, `invalid_argument` for bad
 * input (before any I/O), `sandbox_died` when the machine is gone for good.
 */
export interface Sandbox {
  /**
   * Runs `command` as `$SHELL -c command`, the way `ssh host command` does: the user's shell,
   * not started as a login shell, so `/etc/profile` and `~/.profile` are not read; the command
   * sees the same environment, directory, umask and limits as on an SSH exec channel. Resolves
   * for any exit status; rejects only for transport errors, bad input and aborts.
   */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Reads a whole file as UTF-8 text. Rejects with `too_large` past `maxBytes`, `is_a_directory` for a directory. */
  readFile(path: string, options?: ReadFileOptions): Promise<string>;
  /** Reads a whole file, byte-exact. Rejects with `too_large` past `maxBytes`, `is_a_directory` for a directory. */
  readFileBuffer(path: string, options?: ReadFileOptions): Promise<Uint8Array>;
  /** Writes a file atomically (temp file, then rename), creating missing parent directories. */
  writeFile(path: string, data: string | Uint8Array, options?: WriteFileOptions): Promise<void>;
  /**
   * Reads a file as a web `ReadableStream` of bytes, in chunks, never holding the whole file:
   * the server sends more only as the reader reads (backpressure). Resolves once the file is
   * open; `not_found`, `is_a_directory` and `permission_denied` reject the call itself, on every
   * transport. Cancelling the stream (`reader.cancel()`, a `break` out of `for await`) stops
   * the transfer on the server. Web streams, not Node streams: they are what the AI SDK and
   * `fetch` take, and `Readable.fromWeb` turns one into a Node stream.
   */
  readFileStream(path: string, options?: ReadFileStreamOptions): Promise<ReadableStream<Uint8Array>>;
  /**
   * Writes a file from a web `WritableStream` of bytes, atomically: the chunks go to a temp file
   * next to `path`, which is renamed over it when the stream closes (`close()` resolves after
   * the rename). `abort()`, an error or the signal remove the temp file and keep the old
   * content. Parents and mode as {@link writeFile}. Resolves once the temp file is open, so
   * `is_a_directory` and `permission_denied` reject the call itself. Writes resolve as the
   * connection takes them (backpressure); nothing is buffered whole.
   */
  writeFileStream(path: string, options?: WriteFileStreamOptions): Promise<WritableStream<Uint8Array>>;
  /** Metadata of a path, following symbolic links; `isSymbolicLink` tells whether the path is one. Rejects with `not_found` when missing. */
  stat(path: string, options?: FileOptions): Promise<FileStat>;
  /** Entries of a directory, without `.` and `..`, sorted by name. */
  readdir(path: string, options?: FileOptions): Promise<DirEntry[]>;
  /** Whether the path exists. Never rejects for a missing path. */
  exists(path: string, options?: FileOptions): Promise<boolean>;
  /** Creates a directory. */
  mkdir(path: string, options?: MkdirOptions): Promise<void>;
  /** Removes a file, link or directory. Refuses `/` and the home directory. */
  rm(path: string, options?: RmOptions): Promise<void>;
  /** Renames a path, replacing an existing file at `to`. */
  rename(from: string, to: string, options?: FileOptions): Promise<void>;
  /** Copies a local file to the remote machine (pipelined; never buffered whole). */
  uploadFile(localPath: string, remotePath: string, options?: FileOptions): Promise<void>;
  /** Copies a remote file to the local machine (pipelined; never buffered whole). */
  downloadFile(remotePath: string, localPath: string, options?: FileOptions): Promise<void>;
  /**
   * Copies a local directory's contents into `remoteDir` as one tar stream (host `tar` packs,
   * the VM's `tar` unpacks). Symbolic links are copied as links, as they are. When `remoteDir`
   * does not exist it is unpacked beside it and renamed into place, so it appears only complete;
   * when it exists the files are merged into it, and a failure partway may leave some replaced.
   * Nothing of the tree is touched before the whole archive is on the VM.
   */
  uploadDirectory(
    localDir: string,
    remoteDir: string,
    options?: DirectoryTransferOptions,
  ): Promise<DirectoryTransferResult>;
  /**
   * Copies a remote directory's contents into the local `localDir` as one tar stream, unpacked
   * by a confining extractor: an archive member or symbolic link that would lead outside
   * `localDir` (absolute or `..` paths, links to outside the tree, writes through links, hard
   * links to other files) rejects with `permission_denied`; devices are skipped, setuid bits and
   * owners dropped. A missing `localDir` appears only complete; an existing one is merged into.
   */
  downloadDirectory(
    remoteDir: string,
    localDir: string,
    options?: DirectoryTransferOptions,
  ): Promise<DirectoryTransferResult>;
  /**
   * Starts `command` (as `exec` would run it) and resolves once it runs, without waiting for it
   * to end: a dev server, a watcher, a REPL. Write to its stdin, read its output as it comes,
   * wait for it or kill it through the returned {@link SandboxProcess}.
   */
  spawn(command: string, options?: SpawnOptions): Promise<SandboxProcess>;
  /** The processes in the VM's process table (spawned through this library by this user), running or recently ended. */
  listProcesses(): Promise<ProcessInfo[]>;
  /** Finds a process by its id (from any client) with the output it printed meanwhile. Rejects with `not_found` for an unknown id. */
  attachProcess(id: string): Promise<SandboxProcess>;
  /** Resolves once something on the VM accepts TCP connections on `port` (on 127.0.0.1 or ::1). */
  waitForPort(port: number, options?: WaitForPortOptions): Promise<void>;
  /**
   * Resolves with the first match of `pattern` in `process`'s output (what it already printed
   * counts). Rejects with `timeout`, or with `closed` when the process exits without a match.
   */
  waitForOutput(
    process: SandboxProcess,
    pattern: string | RegExp,
    options?: WaitForOutputOptions,
  ): Promise<string>;
  /** Opens a terminal with a pseudo-terminal on the VM, running `command` or the login shell. */
  openTerminal(options?: TerminalOptions): Promise<SandboxTerminal>;
  /** Opens a persistent shell session. */
  openShell(options?: ShellOptions): Promise<SandboxShell>;
  /** The remote login directory (`$HOME`), known once connected. */
  readonly homeDir: string;
  /** Closes the connection. Safe to call more than once. */
  close(): Promise<void>;
}
