import type { Writable } from "node:stream";

/**
 * Runs a command on a pseudo-terminal, for sessions that asked for one (`pty`). Node has no pty
 * API, and a native module would be a build step for every user, so this small perl program
 * does it: perl-base is "Essential: yes" on Debian (on every Debian and Ubuntu machine, as
 * `script` from bsdutils is too, but `script` cannot be resized from outside, and python3 is not
 * always installed). It opens `/dev/ptmx` with the kernel's own ioctls (Linux numbers; the
 * emulator is for Linux, as its process tagging already is), forks the command as the leader of
 * a new session with the pty as its controlling terminal and stdin, stdout and stderr, and
 * relays:
 * - its stdin carries frames from the emulator, kept in order: `D` u32 length + bytes (typed
 *   input), `W` u16 rows + u16 cols (window change, applied only after earlier input reached the
 *   pty), `S` u8 signal number (sent to the command);
 * - its stdout is the terminal's output; its stderr only its own failures;
 * - end of its stdin (the channel closed) hangs the terminal up, as sshd closing the pty does
 *   (SIGHUP to the session), then it waits for the command;
 * - once the command exits, it passes on what is still in the pty, then ends as the command
 *   did (the same exit code, or killed by the same signal).
 * Input waits in the helper while the pty is full, and output is always read meanwhile, so a
 * large paste into a program that echoes cannot deadlock.
 */
export const PTY_HELPER_SOURCE: string = String.raw`
use strict; use warnings; use POSIX (); use Fcntl;
my ($rows, $cols, @cmd) = @ARGV;
my ($TIOCSPTLCK, $TIOCGPTN, $TIOCSCTTY, $TIOCSWINSZ) = (0x40045431, 0x80045430, 0x540E, 0x5414);
sub winsize { pack("S4", $_[0], $_[1], 0, 0) }
sysopen(my $m, "/dev/ptmx", O_RDWR | O_NOCTTY) or die "exedev-emulator: cannot open /dev/ptmx: $!\n";
my $unlock = pack("i", 0);
ioctl($m, $TIOCSPTLCK, $unlock) or die "exedev-emulator: cannot unlock the pty: $!\n";
my $n = pack("I", 0);
ioctl($m, $TIOCGPTN, $n) or die "exedev-emulator: cannot name the pty: $!\n";
my $slave = "/dev/pts/" . unpack("I", $n);
my $pid = fork() // die "exedev-emulator: fork: $!\n";
if (!$pid) {
  POSIX::setsid();
  sysopen(my $s, $slave, O_RDWR) or POSIX::_exit(127);
  ioctl($s, $TIOCSCTTY, 0);
  ioctl($s, $TIOCSWINSZ, winsize($rows, $cols));
  POSIX::dup2(fileno($s), $_) for 0 .. 2;
  POSIX::close(fileno($s)) if fileno($s) > 2;
  exec { $cmd[0] } @cmd or do { print STDERR "exedev-emulator: cannot run $cmd[0]: $!\n"; POSIX::_exit(127) };
}
$SIG{PIPE} = "IGNORE";
# Only to cut the select short when the command exits.
$SIG{CHLD} = sub {};
fcntl($m, F_SETFL, fcntl($m, F_GETFL, 0) | O_NONBLOCK);
my ($in, $pending, $status, $drained) = ("", "", undef, 0);
sub finish {
  my $st = shift;
  if (POSIX::WIFSIGNALED($st)) {
    my $sig = POSIX::WTERMSIG($st);
    POSIX::sigaction($sig, POSIX::SigAction->new("DEFAULT"));
    kill $sig, $$;
    exit 128 + $sig;
  }
  exit POSIX::WEXITSTATUS($st);
}
sub hangup { close $m; waitpid($pid, 0); finish($?) }
sub out {
  my $buf = shift;
  while (length $buf) {
    my $w = syswrite(STDOUT, $buf);
    if (!defined $w) { next if $!{EINTR}; hangup() }
    substr($buf, 0, $w, "");
  }
}
sub frames {
  while (length $in) {
    my $t = substr($in, 0, 1);
    if ($t eq "D") {
      last if length($in) < 5;
      my $len = unpack("N", substr($in, 1, 4));
      last if length($in) < 5 + $len;
      $pending .= substr($in, 5, $len);
      substr($in, 0, 5 + $len, "");
    } elsif ($t eq "W") {
      last if length($in) < 5 || length $pending;
      my ($r, $c) = unpack("nn", substr($in, 1, 4));
      ioctl($m, $TIOCSWINSZ, winsize($r, $c));
      substr($in, 0, 5, "");
    } elsif ($t eq "S") {
      last if length($in) < 2 || length $pending;
      kill unpack("C", substr($in, 1, 1)), $pid;
      substr($in, 0, 2, "");
    } else { die "exedev-emulator: bad pty frame\n" }
  }
}
for (;;) {
  if (!defined $status && waitpid($pid, POSIX::WNOHANG()) == $pid) { $status = $? }
  # A background job printing without end must not hold the session open once the command exited.
  finish($status) if defined $status && ++$drained > 256;
  my ($r, $w) = ("", "");
  vec($r, fileno($m), 1) = 1;
  vec($r, 0, 1) = 1 if !defined $status && length($pending) < 65536;
  vec($w, fileno($m), 1) = 1 if length $pending && !defined $status;
  my $found = select(my $ro = $r, my $wo = $w, undef, defined $status ? 0 : 0.1);
  if ($found < 0) { next if $!{EINTR}; die "exedev-emulator: select: $!\n" }
  if ($found == 0) { finish($status) if defined $status; next }
  if (vec($ro, fileno($m), 1)) {
    my $got = sysread($m, my $buf, 65536);
    if ($got) { out($buf) }
    elsif (defined $got || !($!{EAGAIN} || $!{EINTR})) {
      # EIO: nothing holds the terminal open any more.
      waitpid($pid, 0) unless defined $status;
      finish(defined $status ? $status : $?);
    }
  }
  if (length $pending && vec($wo, fileno($m), 1)) {
    my $wrote = syswrite($m, $pending);
    substr($pending, 0, $wrote, "") if $wrote;
  }
  if (vec($ro, 0, 1)) {
    my $got = sysread(STDIN, my $buf, 65536);
    if ($got) { $in .= $buf }
    elsif (defined $got || !$!{EINTR}) { hangup() }
  }
  frames();
}
`;

/** Writes the helper's input frames (see {@link PTY_HELPER_SOURCE}). */
export class PtyInput {
  constructor(private readonly stdin: Writable) {
    stdin.on("error", () => {});
  }

  /** Typed input. */
  data(chunk: Buffer): void {
    const head = Buffer.alloc(5);
    head.write("D", 0, "latin1");
    head.writeUInt32BE(chunk.length, 1);
    this.write(Buffer.concat([head, chunk]));
  }

  /** A window change. */
  resize(cols: number, rows: number): void {
    const frame = Buffer.alloc(5);
    frame.write("W", 0, "latin1");
    frame.writeUInt16BE(Math.min(rows, 0xffff), 1);
    frame.writeUInt16BE(Math.min(cols, 0xffff), 3);
    this.write(frame);
  }

  /** A signal for the command. */
  signal(number: number): void {
    this.write(Buffer.from([0x53, number]));
  }

  /** The channel closed: the helper hangs the terminal up. */
  hangup(): void {
    this.stdin.end();
  }

  private write(frame: Buffer): void {
    if (this.stdin.writable) this.stdin.write(frame);
  }
}
