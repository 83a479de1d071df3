import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * exeuntu's `exe-setup.service` as the VM's own tools see it: `systemctl` and `journalctl`
 * shims, first on every VM process's PATH, that answer for the `exe-setup` unit from
 * `dataDir/setup/<vm>.state` (written by the emulator) and `dataDir/logs/<vm>.setup.log`.
 * Everything else they are asked fails loudly: a shim must never reach the host's systemd.
 */

/** The directory put first on VM processes' PATH. */
export function shimDir(dataDir: string): string {
  return join(dataDir, "bin");
}

/** The unit's state file: its ActiveState on line 1, the run's id on line 2. */
export function setupStateFile(dataDir: string, vm: string): string {
  return join(dataDir, "setup", `${vm}.state`);
}

/** The unit's "journal". */
export function setupLogFile(dataDir: string, vm: string): string {
  return join(dataDir, "logs", `${vm}.setup.log`);
}

/** A new VM (or copy) starts with no unit history: `inactive`, no journal entries. */
export function resetSetupUnit(dataDir: string, vm: string): void {
  rmSync(setupStateFile(dataDir, vm), { force: true });
  rmSync(setupLogFile(dataDir, vm), { force: true });
}

/** Records the unit's state for one run; a later run (same VM name, new VM) is never overwritten. */
export function writeSetupState(dataDir: string, vm: string, state: string, runId: string): void {
  const file = setupStateFile(dataDir, vm);
  if (state !== "activating") {
    let current: string;
    try {
      current = readFileSync(file, "utf8");
    } catch {
      return; // the VM was deleted or replaced
    }
    if (current.split("\n")[1] !== runId) return;
  }
  mkdirSync(join(dataDir, "setup"), { recursive: true });
  writeFileSync(file, `${state}\n${runId}\n`);
}

function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

// The VM's name is the last part of its workspace, which every VM process carries in its tag.
const COMMON = (dataDir: string): string => `data=${quote(dataDir)}
vm=\${EXEDEV_EMULATOR_WORKSPACE##*/}
refuse() { echo "emulator: only exe-setup is emulated ($1)" >&2; exit 1; }
unit_ok() { case "$1" in exe-setup|exe-setup.service) return 0;; esac; return 1; }
`;

function systemctlShim(dataDir: string): string {
  return `#!/bin/sh
# exedev-emulator: systemctl for exeuntu's exe-setup unit only.
${COMMON(dataDir)}state() {
  s=
  [ -f "$data/setup/$vm.state" ] && read -r s < "$data/setup/$vm.state"
  echo "\${s:-inactive}"
}
quiet=0
verb=
units=
for arg in "$@"; do
  case "$arg" in
    -q|--quiet) quiet=1 ;;
    --no-pager|--system) ;;
    -*) refuse "systemctl $arg" ;;
    *) if [ -z "$verb" ]; then verb=$arg; else unit_ok "$arg" || refuse "unit $arg"; units="$units $arg"; fi ;;
  esac
done
[ -n "$units" ] || refuse "systemctl \${verb:-without a verb}"
s=$(state)
case "$verb" in
  is-active)
    [ "$quiet" = 1 ] || echo "$s"
    # systemd: 0 when active (or reloading), else 3 (LSB "program is not running").
    [ "$s" = active ] && exit 0; exit 3 ;;
  is-failed)
    [ "$quiet" = 1 ] || echo "$s"
    [ "$s" = failed ] && exit 0; exit 1 ;;
  status)
    echo "* exe-setup.service - Run /exe.dev/setup script on first boot"
    echo "     Active: $s"
    [ -f "$data/logs/$vm.setup.log" ] && tail -n 10 "$data/logs/$vm.setup.log"
    [ "$s" = active ] && exit 0; exit 3 ;;
  *) refuse "systemctl $verb" ;;
esac
`;
}

function journalctlShim(dataDir: string): string {
  return `#!/bin/sh
# exedev-emulator: journalctl -u exe-setup only; prints the messages (like -o cat).
${COMMON(dataDir)}unit=
lines=
while [ $# -gt 0 ]; do
  case "$1" in
    -u|--unit) unit_ok "$2" || refuse "unit $2"; unit=$2; shift ;;
    --unit=*) unit_ok "\${1#--unit=}" || refuse "unit \${1#--unit=}"; unit=\${1#--unit=} ;;
    -n|--lines) lines=$2; shift ;;
    -n*) lines=\${1#-n} ;;
    --lines=*) lines=\${1#--lines=} ;;
    --no-pager|-q|--quiet|-b|--boot|-o|--output=*|--no-hostname|-a|--all)
      [ "$1" = -o ] && shift ;;
    *) refuse "journalctl $1" ;;
  esac
  shift
done
[ -n "$unit" ] || refuse "journalctl without -u exe-setup"
log="$data/logs/$vm.setup.log"
if [ ! -s "$log" ]; then echo "-- No entries --"; exit 0; fi
case "$lines" in
  ''|all) cat "$log" ;;
  *[!0-9]*) echo "journalctl: bad --lines value" >&2; exit 1 ;;
  *) tail -n "$lines" "$log" ;;
esac
`;
}

/** Writes (or rewrites, for a data directory moved since) the shims; call once at start. */
export function installSetupShims(dataDir: string): void {
  const dir = shimDir(dataDir);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of [
    ["systemctl", systemctlShim(dataDir)],
    ["journalctl", journalctlShim(dataDir)],
  ] as const) {
    const file = join(dir, name);
    writeFileSync(file, text);
    chmodSync(file, 0o755);
  }
}
