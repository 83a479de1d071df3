/**
 * The shell scripts the HTTPS sandbox runs on the VM. Each is POSIX `sh`, reads its data from
 * base64 positional parameters (never from its own text, so the text is fixed and small) and
 * reports only through lines that start with the call's random marker (`$1`).
 */

// Shell text, not JS templates: the `${…}` in these strings are the shell's.
// biome-ignore-start lint/suspicious/noTemplateCurlyInString: shell parameter expansions
// `dec` keeps trailing newlines that `$(…)` would strip: a path may end in one.
const PRELUDE = [
  "m=$1; shift",
  'emit() { printf \'%s %s\\n\' "$m" "$*"; }',
  'fail() { emit ERR "$1"; exit 0; }',
  'dec() { r=$(printf %s "$1" | base64 -d; echo x) || fail io_error; r=${r%x}; }',
  // Why a directory could not be made: a file in the way, or no permission.
  'why() { q=$1; [ -e "$q" ] && [ ! -d "$q" ] && fail already_exists; while [ -n "$q" ] && [ "$q" != / ]; do q=${q%/*}; q=${q:-/}; if [ -e "$q" ]; then [ -d "$q" ] || fail already_exists; fail permission_denied; fi; done; fail io_error; }',
].join("\n");
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: shell parameter expansions

/** Emits the new bytes of a file as one base64 frame; `left=1` when the chunk cap cut it. */
const SEND = `send() { a=$(($4-$2)); [ "$a" -gt "$3" ] && a=$3; [ "$a" -lt 0 ] && a=0; n=$a; if [ "$n" -gt "$cap" ]; then n=$cap; left=1; fi; [ "$n" -gt 0 ] || return 0; printf '%s %s ' "$m" "$5"; tail -c +$(($2+1)) "$1" | head -c "$n" | base64 | tr -d '\\n'; echo; }`;

/**
 * Starts (`start`) or polls (`poll`) a command. Parameters after the marker: mode, dir (`-` to
 * start), command line (base64), stdin (base64 or `-`), run tag, wait ticks (50 ms each),
 * stdout offset, stdout bytes wanted, stderr offset, stderr bytes wanted, chunk cap.
 *
 * The command runs as a `setsid` job with the tag in its environment (so a kill finds it and
 * its children by tag), stdout and stderr in files of a private `mktemp -d` directory; a
 * wrapper records its exit status. The script waits until the status exists or the ticks run
 * out, then reports the new output, and `EXIT` (removing the directory once everything the
 * client wants is sent) or `RUN`.
 */
export const EXEC_SCRIPT: string = `${PRELUDE}
${SEND}
d=$2; cap=\${11}
if [ "$1" = start ]; then
  command -v setsid >/dev/null 2>&1 || fail no_setsid
  d=$(mktemp -d "\${TMPDIR:-/tmp}/$5.XXXXXX" 2>/dev/null) || fail permission_denied
  chmod 700 "$d" || fail permission_denied
  printf %s "$3" | base64 -d >"$d/c" || { rm -rf "$d"; fail io_error; }
  : >"$d/i"; : >"$d/o"; : >"$d/e"
  case $4 in
    -) ;;
    %*) dec "\${4#%}"; mv -f -- "$r" "$d/i" 2>/dev/null || { rm -rf "$d"; fail io_error; } ;;
    *) printf %s "$4" | base64 -d >"$d/i" || { rm -rf "$d"; fail io_error; } ;;
  esac
  # The job checks the kill's tombstone first: a kill sent while this request was on its way.
  # The wrapper carries the tag too, so a kill takes it along and it never writes into the
  # directory the kill removes.
  EXEDEV_RUN=$5 setsid sh -c '[ -e "\${TMPDIR:-/tmp}/.$2.killed" ] && exit 0; EXEDEV_RUN=$2 "\${SHELL:-/bin/sh}" -c "$(cat "$1/c")" <"$1/i" >"$1/o" 2>"$1/e"; echo $? >"$1/x.t" && mv "$1/x.t" "$1/x"' sh "$d" "$5" </dev/null >/dev/null 2>&1 &
  emit DIR "$d"
elif [ ! -d "$d" ]; then
  fail gone
fi
n=0
while [ ! -f "$d/x" ] && [ "$n" -lt "$6" ]; do sleep 0.05 2>/dev/null || sleep 1; n=$((n+1)); done
x=; [ -f "$d/x" ] && x=$(cat "$d/x")
so=$(wc -c <"$d/o"); so=$((so+0)); se=$(wc -c <"$d/e"); se=$((se+0)); left=0
send "$d/o" "$7" "$8" "$so" O
send "$d/e" "$9" "\${10}" "$se" E
if [ -n "$x" ]; then
  emit EXIT "$x" "$so" "$se"
  if [ "$left" = 0 ]; then rm -rf "$d"; emit CLEAN; fi
else
  emit RUN "$so" "$se"
fi
exit 0`;

/**
 * Kills a command's tree (`kill`, from buildKillCommand) and removes its directory. `$1` is the
 * run tag. When `$2` is 1 (the start request may still be on its way) it first leaves a
 * tombstone that stops the job from starting, then removes it only if the job's directory is
 * there (so the start has run).
 */
export function buildKillScript(kill: string): string {
  return `${PRELUDE}
t=\${TMPDIR:-/tmp}
[ "$2" = 1 ] && : >"$t/.$1.killed"
( ${kill}
)
for g in "$t/$1".*; do [ -d "$g" ] && rm -rf "$g" && rm -f "$t/.$1.killed"; done
emit KILLED
exit 0`;
}

/** Prints `$HOME`, base64. */
export const HOME_SCRIPT: string = `${PRELUDE}
printf '%s HOME ' "$m"; printf %s "$HOME" | base64 | tr -d '\\n'; echo; exit 0`;

/** stat (path): `STAT <isLink> <hex mode> <size> <mtime s>`, following links. */
export const STAT_SCRIPT: string = `${PRELUDE}
dec "$1"; p=$r
[ -e "$p" ] || fail not_found
l=0; [ -L "$p" ] && l=1
s=$(stat -L -c '%f %s %Y' -- "$p" 2>/dev/null) || fail permission_denied
emit STAT "$l" $s
exit 0`;

/** exists (path): `YES` or `NO`. */
export const EXISTS_SCRIPT: string = `${PRELUDE}
dec "$1"; p=$r
if [ -e "$p" ] || [ -L "$p" ]; then emit YES; else emit NO; fi
exit 0`;

/** readdir (path): `LIST <base64 of "type size name\\0"…>`, types as find's %y. */
export const READDIR_SCRIPT: string = `${PRELUDE}
dec "$1"; p=$r
[ -e "$p" ] || fail not_found
[ -d "$p" ] || fail not_a_directory
[ -r "$p" ] && [ -x "$p" ] || fail permission_denied
printf '%s LIST ' "$m"; find "$p" -mindepth 1 -maxdepth 1 -printf '%y %s %f\\0' 2>/dev/null | base64 | tr -d '\\n'; echo
exit 0`;

/** mkdir (path, recursive 0/1). */
export const MKDIR_SCRIPT: string = `${PRELUDE}
dec "$1"; p=$r
if [ "$2" = 1 ]; then
  if [ -d "$p" ]; then emit OK; exit 0; fi
  [ -e "$p" ] || [ -L "$p" ] && fail already_exists
  mkdir -p -- "$p" 2>/dev/null || why "$p"
else
  [ -e "$p" ] || [ -L "$p" ] && fail already_exists
  q=\${p%/*}; q=\${q:-/}
  [ -e "$q" ] || fail not_found
  [ -d "$q" ] || fail not_a_directory
  mkdir -- "$p" 2>/dev/null || fail permission_denied
fi
emit OK; exit 0`;

/** rm (path, force 0/1, recursive 0/1). */
export const RM_SCRIPT: string = `${PRELUDE}
dec "$1"; p=$r
if [ ! -e "$p" ] && [ ! -L "$p" ]; then [ "$2" = 1 ] && { emit OK; exit 0; }; fail not_found; fi
if [ -d "$p" ] && [ ! -L "$p" ]; then
  [ "$3" = 1 ] || fail is_a_directory
  rm -rf -- "$p" 2>/dev/null || fail permission_denied
else
  rm -f -- "$p" 2>/dev/null || fail permission_denied
fi
emit OK; exit 0`;

/** rename (from, to), replacing a file at `to` as rename(2) does. */
export const RENAME_SCRIPT: string = `${PRELUDE}
dec "$1"; f=$r; dec "$2"; t=$r
[ -e "$f" ] || [ -L "$f" ] || fail not_found
mv -f -T -- "$f" "$t" 2>/dev/null && { emit OK; exit 0; }
q=\${t%/*}; [ -d "\${q:-/}" ] || fail not_found
[ -d "$t" ] && [ ! -d "$f" ] && fail is_a_directory
[ -d "$t" ] && fail not_empty
fail permission_denied`;

/** readFile chunk (path, offset, length): `DATA <base64>`. */
export const READ_SCRIPT: string = `${PRELUDE}
dec "$1"; p=$r
[ -e "$p" ] || fail not_found
[ -d "$p" ] && fail is_a_directory
[ -r "$p" ] || fail permission_denied
printf '%s DATA ' "$m"; tail -c +$(($2+1)) -- "$p" 2>/dev/null | head -c "$3" | base64 | tr -d '\\n'; echo
exit 0`;

/**
 * writeFile chunk (path, temp or \`-\` for the first, chunk base64 or \`-\`, last 0/1, mode octal
 * or \`-\`). The first chunk makes the parents and a temp file beside the target (\`TMP <base64>\`);
 * the last one sets the mode and renames the temp file over the target.
 */
export const WRITE_SCRIPT: string = `${PRELUDE}
dec "$1"; p=$r
q=\${p%/*}; q=\${q:-/}
if [ "$2" = - ]; then
  [ -d "$p" ] && fail is_a_directory
  [ -d "$q" ] || mkdir -p -- "$q" 2>/dev/null || why "$q"
  t=$(mktemp "$q/.exedev-write.XXXXXXXX" 2>/dev/null) || fail permission_denied
else
  dec "$2"; t=$r
  [ -f "$t" ] || fail gone
fi
if [ "$3" != - ]; then printf %s "$3" | base64 -d >>"$t" 2>/dev/null || { rm -f "$t"; fail io_error; }; fi
if [ "$4" != 1 ]; then printf '%s TMP ' "$m"; printf %s "$t" | base64 | tr -d '\\n'; echo; exit 0; fi
if [ "$5" != - ]; then k=$5; elif [ -f "$p" ]; then k=$(stat -c %a -- "$p" 2>/dev/null) || k=644; else k=644; fi
chmod "$k" "$t" 2>/dev/null || { rm -f "$t"; fail permission_denied; }
[ -d "$p" ] && { rm -f "$t"; fail is_a_directory; }
mv -f -T -- "$t" "$p" 2>/dev/null || { rm -f "$t"; fail permission_denied; }
emit OK; exit 0`;

/** Removes an abandoned write's temp file (temp path base64). */
export const DISCARD_SCRIPT: string = `${PRELUDE}
dec "$1"; rm -f -- "$r"; emit OK; exit 0`;
