import { shellQuote } from "./shell-quote.js";

/**
 * Longest command line (command + cwd + env after quoting, plus the wrapper) sent to an OpenSSH
 * server. Linux refuses a single exec argument over 128 KiB (MAX_ARG_STRLEN, 131072 bytes with
 * its NUL): the login shell gets the line as one `-c` argument, so a longer line fails with
 * "Argument list too long", and from 256 KiB on (OpenSSH's packet limit) sshd drops the whole
 * connection. Measured on OpenSSH 9 / Linux 6: 131,071 bytes run, 131,072 fail. The bound
 * leaves room for the wrapper's second exec under `setsid`.
 */
export const MAX_COMMAND_LINE_BYTES: number = 120 * 1024;

/**
 * Dropbear's own limit (`MAX_CMD_LEN` 9000 bytes): a longer exec request makes it drop the whole
 * connection ("String too long"). Measured on Dropbear 2022.83: 8,991 bytes run, 9,001 drop.
 */
export const MAX_DROPBEAR_COMMAND_LINE_BYTES = 8_900;

/** The command-line bound for a server, from its SSH software version (e.g. `dropbear_2022.83`). */
export function commandLineLimitFor(serverSoftware: string | undefined): number {
  return /dropbear/i.test(serverSoftware ?? "") ? MAX_DROPBEAR_COMMAND_LINE_BYTES : MAX_COMMAND_LINE_BYTES;
}

/** Reads this process's stat line: `$1` is then the state, `$4` the session, `${20}` the start time. */
const READ_OWN_STAT = `read -r __exedev_s 2>/dev/null </proc/$$/stat; __exedev_s=\${__exedev_s##*") "}; set -- $__exedev_s; set -- "$4" "\${20}"`;

/**
 * The line the server hands to the login shell (`$SHELL -c LINE`).
 *
 * - When the shell does not lead its own session (Dropbear, tinysshd: the server's process
 *   does), it re-executes itself under `setsid`, keeping its pid: the command then has a session
 *   and process group of its own, whatever the server arranges. Without `setsid` or `/proc` it
 *   runs as it is, and kills fall back to the pid tree.
 * - It prints the shell's pid and start time (so a later kill can tell a reused pid) as a marker
 *   on stderr, then changes directory, exports the environment and `eval`s the command. `eval`
 *   keeps the login shell's own semantics, and a syntax error in the command still leaves the
 *   marker printed. The leading space stops a command that starts with "-" being read as an
 *   option.
 * - `runTag` is exported as `EXEDEV_RUN`, which every process the command starts inherits: a
 *   kill finds them by it even when they left the session and the pid tree (a double fork under
 *   `setsid`), or when the marker never arrived (the connection was lost first).
 * - With `loginShell`, once the marker is out the shell `exec`s `$SHELL -l -c` (a login shell:
 *   `/etc/profile`, `/etc/profile.d/*`, `~/.bash_profile` or `~/.profile`), and only that shell
 *   changes directory, exports the environment and `eval`s the command, so that `cwd` and `env`
 *   win over the profile. `exec` keeps the pid, its start time, session and process group, and
 *   `EXEDEV_RUN` is inherited, so a kill finds the command exactly as without it.
 * - Without `pidMarker` nothing is printed on stderr (spawned processes: their keeper reports
 *   the pid, and their stderr log holds only the command's own bytes).
 */
export function buildRemoteCommand(
  command: string,
  cwd?: string,
  env?: Record<string, string>,
  runTag = "exedev-run",
  loginShell = false,
  pidMarker = true,
): string {
  const inner = [`export EXEDEV_RUN=${runTag}`, "unset __exedev_c"];
  // A spawned process's keeper reports its pid itself: its stderr must stay the command's own.
  if (pidMarker) {
    inner.push(
      READ_OWN_STAT,
      `printf '\\036EXEDEV_PID=%s:%s\\036' "$$" "$2" >&2`,
      "unset __exedev_s; set --",
    );
  }
  const run: string[] = [];
  if (cwd !== undefined) run.push(`cd -- ${shellQuote(cwd)} || exit 1`);
  const assignments = Object.entries(env ?? {}).map(([name, value]) => `${name}=${shellQuote(value)}`);
  if (assignments.length > 0) run.push(`export ${assignments.join(" ")}`);
  run.push(`eval ${shellQuote(` ${command}`)}`);
  if (loginShell) inner.push(`exec "\${SHELL:-/bin/sh}" -l -c ${shellQuote(run.join("; "))}`);
  else inner.push(...run);
  const outer = [
    `__exedev_c=${shellQuote(inner.join("; "))}`,
    READ_OWN_STAT,
    // Only when the shell is known not to lead its session: `setsid` forks when run by a group
    // leader, and its parent would return before the command ends.
    `[ -n "$1" ] && [ "$1" != $$ ] && command -v setsid >/dev/null 2>&1 && exec setsid "\${SHELL:-/bin/sh}" -c "$__exedev_c"`,
    "unset __exedev_s; set --",
    `eval "$__exedev_c"`,
  ];
  return outer.join("; ");
}

/** A remote process tree owed a kill. */
export interface KillTarget {
  /** The command's `EXEDEV_RUN` value ({@link buildRemoteCommand}'s `runTag`). */
  tag: string;
  /** The command shell's pid, once its marker arrived. */
  pid?: number;
  /** Its start time in clock ticks (`/proc/PID/stat` field 22), when the server has `/proc`. */
  startTicks?: string;
}

/** Most targets per kill command, so the line stays under every server's limit. */
export const MAX_KILL_TARGETS = 60;

/**
 * Prints the processes to kill, one per line: everything in the roots' sessions and process
 * groups, the roots themselves, and all their descendants (children that made a group or session
 * of their own are still descendants). Reads `/proc/PID/stat` lines on stdin.
 */
const COLLECT = `awk -v roots="$r" -v self=$$ 'BEGIN { n = split(roots, a, " "); for (i = 1; i <= n; i++) root[a[i]] = 1 }
{ i = length($0); while (i > 0 && substr($0, i, 1) != ")") i--; split(substr($0, i + 2), f, " ");
  p = $1 ""; pp[p] = f[2]; if ((p in root) || (f[3] in root) || (f[4] in root)) hit[p] = 1 }
END { do { added = 0; for (p in pp) if (!(p in hit) && (pp[p] in hit)) { hit[p] = 1; added = 1 } } while (added);
  for (p in hit) if (p != self && pp[p] != self) print p }'`;

/**
 * The kill command: finds the targets' process trees (by pid, checked against the recorded start
 * time so a reused pid is never hit, and by the inherited `EXEDEV_RUN` tag), stops
 * them all with SIGSTOP until no new process appears (so nothing forks its way out), then
 * SIGKILLs them. Without `/proc` it kills the process groups, as OpenSSH arranges them.
 */
export function buildKillCommand(targets: readonly KillTarget[]): string {
  const byPid = targets
    .filter((target) => target.pid !== undefined)
    .map((target) => `${target.pid}:${target.startTicks ?? ""}`);
  // Each tag is written split (`a""b`) so the kill command's own command line never matches it.
  const byTag = targets.map(
    (target) => `${shellQuote(`EXEDEV_RUN=${target.tag.slice(0, 4)}`)}""${shellQuote(target.tag.slice(4))}`,
  );
  const lines = [
    "r=",
    `for e in ${byPid.join(" ")}; do p=\${e%%:*}; t=\${e#*:}; if [ -n "$t" ] && [ -r /proc/$p/stat ]; then read -r l </proc/$p/stat; l=\${l##*") "}; set -- $l; [ "\${20}" = "$t" ] || continue; fi; r="$r $p"; done`,
    `for g in ${byTag.join(" ")}; do for f in $(grep -l -a -F -e "$g" /proc/[0-9]*/environ 2>/dev/null); do p=\${f#/proc/}; p=\${p%/environ}; [ "$p" = $$ ] || r="$r $p"; done; done`,
    `[ -n "$r" ] || exit 0`,
    `[ -d /proc/self ] || { for p in $r; do kill -s KILL -- -$p $p; done 2>/dev/null; exit 0; }`,
    `k=; for i in 1 2 3 4 5 6 7 8; do n=$(cat /proc/[0-9]*/stat 2>/dev/null | ${COLLECT} | sort -n | tr "\\n" " "); [ -n "$n" ] || break; kill -s STOP $n 2>/dev/null; [ "$n" = "$k" ] && break; k=$n; done`,
    `[ -n "$k" ] && kill -s KILL $k 2>/dev/null; exit 0`,
  ];
  return lines.join("\n");
}
