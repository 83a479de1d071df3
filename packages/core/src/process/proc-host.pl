# The exedev process host, protocol version 1. PROCESSES.md beside this file is the reference;
# read it first. Runs as `perl -e SOURCE` or is eval'd by a bootstrap (like the agent), so
# nothing here relies on $0, __END__/__DATA__ or the file's path.
# Only modules of Debian's essential perl-base package: it must run on any Debian or Ubuntu VM.
package ExedevProcHost;
use strict;
use warnings;
use POSIX ();
use Fcntl qw(O_RDONLY O_RDWR O_WRONLY O_CREAT O_EXCL O_APPEND O_NONBLOCK F_GETFL F_SETFL F_DUPFD);
use Errno ();

use Errno qw(EAGAIN EINTR EPERM);

# What the host and every keeper share: the keeper is a fresh `perl -e` (so its environment is
# its own, see Tags in PROCESSES.md) and gets this text in front of its own. It loads no module
# (not even strict): modules are most of a perl's start-up time, and 200 keepers start at once;
# the host hands it the constants it needs (KEEPER_CONSTANTS) as it found them.
our ($COMMON, $KEEPER, $gettimeofday);
use constant KEEPER_CONSTANTS => qw(O_RDONLY O_RDWR O_WRONLY O_CREAT O_EXCL O_APPEND O_NONBLOCK F_GETFL F_SETFL
  EAGAIN EINTR EPERM);
BEGIN {
$COMMON = <<'COMMON';
sub SEGMENT () { 1048576 }    # bytes per log segment; the newest two are kept

# Milliseconds since the epoch. perl-base has no Time::HiRes: gettimeofday(2) by its syscall
# number (the host finds it from uname and hands it to keepers), else whole seconds.
our $gettimeofday = 0;
sub now_ms {
  if ($gettimeofday) {
    my $tv = "\0" x 16;
    if (syscall($gettimeofday, $tv, 0) == 0) {
      my ($sec, $usec) = unpack('l!l!', $tv);
      return $sec * 1000 + int($usec / 1000) if abs($sec - time) < 5;
    }
    $gettimeofday = 0;
  }
  return time * 1000;
}

# Field 22 of /proc/PID/stat (start time in clock ticks): tells a reused pid from the one we
# started. Undef when the process is gone or there is no /proc.
sub start_ticks {
  my ($pid) = @_;
  open(my $fh, '<', "/proc/$pid/stat") or return undef;
  my $line = <$fh>;
  close $fh;
  return undef unless defined $line && $line =~ /\)\s+(.*)\z/s;
  my @f = split ' ', $1;
  return $f[19];
}

# Whether the process with that pid (and start time, when known) still exists.
sub alive {
  my ($pid, $ticks) = @_;
  return 0 unless $pid;
  if (defined $ticks && length $ticks && -d '/proc/self') {
    my $now = start_ticks($pid);
    return defined $now && $now eq $ticks;
  }
  return kill(0, $pid) || $! == EPERM;
}

# Every process whose environment holds EXEDEV_RUN=<one of the tags> exactly (not as a prefix).
sub tagged {
  my ($tags, $skip) = @_;
  my @found;
  opendir(my $dh, '/proc') or return ();
  for my $pid (grep { /^\d+$/ } readdir $dh) {
    next if $skip->{$pid} || $pid == $$;
    open(my $fh, '<', "/proc/$pid/environ") or next;
    local $/;
    my $env = <$fh>;
    close $fh;
    push @found, $pid if defined $env && "\0$env" =~ /\0EXEDEV_RUN=([^\0]*)\0/ && $tags->{$1};
  }
  closedir $dh;
  return @found;
}

# SIGKILLs process groups and everything carrying their tags (targets: [group or 0, tag]), all
# at once: one search of /proc however many. SIGSTOP first, until no new process appears, so
# nothing forks its way out between the search and the kill.
sub kill_trees {
  my ($targets, @skip) = @_;
  my %skip = map { $_ => 1 } @skip;
  my %tags = map { $_->[1] => 1 } @$targets;
  my @groups = grep { $_ } map { $_->[0] } @$targets;
  kill 'STOP', map { -$_ } @groups if @groups;
  my %seen;
  for (1 .. 8) {
    my @new = grep { !$seen{$_}++ } tagged(\%tags, \%skip);
    last unless @new;
    kill 'STOP', @new;
  }
  kill 'KILL', map { -$_ } @groups if @groups;
  kill 'KILL', keys %seen if %seen;
}

sub kill_tree { my ($group, $tag, @skip) = @_; kill_trees([[$group, $tag]], @skip) }

# Writes a small file by rename, so a reader sees the old or the new content, never part.
sub write_file {
  my ($path, $text) = @_;
  my $temp = "$path.tmp$$";
  sysopen(my $fh, $temp, O_WRONLY | O_CREAT | O_EXCL, 0600) or return 0;
  my $ok = (syswrite($fh, $text) // -1) == length $text;
  $ok = close($fh) && $ok;
  return 1 if $ok && rename($temp, $path);
  unlink $temp;
  return 0;
}

sub read_file {
  my ($path) = @_;
  open(my $fh, '<', $path) or return undef;
  local $/;
  my $text = <$fh>;
  close $fh;
  return defined $text ? $text : '';
}

sub read_pairs {
  my $text = read_file($_[0]);
  return undef unless defined $text;
  my %pairs = $text =~ /^(\w+)=(.*)$/mg;
  return \%pairs;
}

sub nonblock {
  my ($fh) = @_;
  my $flags = fcntl($fh, F_GETFL, 0);
  fcntl($fh, F_SETFL, $flags | O_NONBLOCK) if defined $flags;
}
COMMON
eval "$COMMON; 1" or die $@;
}

# The keeper: one per process (see Keeper in PROCESSES.md). The host's grandchild has set
# everything up and forked the command before it execs this, so it only copies the command's
# output to the logs, closes stdin when told, enforces the deadline and records the exit.
# @ARGV: dir, tag, timeoutMs, gettimeofday's number, command pid, startedAtMs.
# Fds: 3 stdout pipe, 4 stderr pipe, 5 stdin FIFO (O_RDWR), 6 control FIFO (O_RDWR), 7 the report
# pipe to the host: the report comes from here, once this process is the keeper (its own
# environment, its $0), never from the host's copy it was a moment before.
$KEEPER = <<'KEEPER';
my ($dir, $tag, $timeout_ms, $syscall, $pid, $started) = @ARGV;
$gettimeofday = $syscall;
my ($id) = $dir =~ m{([^/]+)\z};
$0 = "exedev-keeper $id";
$SIG{$_} = 'IGNORE' for qw(HUP INT TERM PIPE USR1 USR2);
open(my $report, '>&=', 7) or exit 1;
syswrite($report, "ok $pid $started\n");
close $report;
my (%log, %open);
for ([3, 'out'], [4, 'err']) {
  my ($fd, $name) = @$_;
  open(my $pipe, '<&=', $fd) or exit 1;
  sysopen(my $fh, "$dir/$name-0", O_WRONLY | O_CREAT | O_APPEND, 0600) or exit 1;
  $log{$name} = { name => $name, start => 0, size => 0, fh => $fh };
  nonblock($pipe);
  $open{$fd} = [$pipe, $log{$name}];
}
open(my $fifo, '+<&=', 5) or exit 1;
open(my $control, '+<&=', 6) or exit 1;
nonblock($control);

# Appends to a stream's log: a new segment at every SEGMENT bytes, the one before the previous
# removed, so at most two segments (2 MiB) per stream are on disk.
sub append_log {
  my ($log, $data) = @_;
  while (length $data) {
    if ($log->{size} >= SEGMENT) {
      close $log->{fh};
      $log->{start} += SEGMENT;
      $log->{size} = 0;
      sysopen($log->{fh}, "$dir/$log->{name}-$log->{start}", O_WRONLY | O_CREAT | O_APPEND, 0600) or return;
      unlink("$dir/$log->{name}-" . ($log->{start} - 2 * SEGMENT)) if $log->{start} >= 2 * SEGMENT;
    }
    my $part = substr($data, 0, SEGMENT - $log->{size}, '');
    my $n = syswrite($log->{fh}, $part);
    return unless defined $n;    # disk full: output is lost, the process goes on
    $log->{size} += length $part;
  }
}

# The command is our child (forked before the exec); SIGCHLD wakes the select through a pipe
# (perl runs handlers between ops, so a select that started just before it waits out its timeout).
my ($sig_r, $sig_w);
pipe($sig_r, $sig_w) or exit 1;
nonblock($_) for $sig_r, $sig_w;
$SIG{CHLD} = sub { syswrite($sig_w, 'c') };
my $deadline = $timeout_ms ? $started + $timeout_ms : 0;
my ($status, $timed_out) = (undef, 0);
while (%open || !defined $status) {
  my $wait = 1;
  if ($deadline && !$timed_out) {
    my $left = ($deadline - now_ms()) / 1000;
    if ($left <= 0) {
      $timed_out = 1;
      kill_tree($pid, $tag, $$);
      next;
    }
    $wait = $left if $left < $wait;
  }
  my $rin = '';
  vec($rin, $_, 1) = 1 for keys %open;
  vec($rin, 6, 1) = 1 if $control;
  vec($rin, fileno $sig_r, 1) = 1;
  my $n = select(my $rout = $rin, undef, undef, $wait);
  if ($n > 0) {
    sysread($sig_r, my $drain, 64) if vec($rout, fileno $sig_r, 1);
    if ($control && vec($rout, 6, 1)) {
      # CLOSE_STDIN: the host removed the FIFO; our end closed, the command reads end of file.
      sysread($control, my $drain, 64);
      close $fifo if $fifo;
      undef $fifo;
    }
    for my $fd (keys %open) {
      next unless vec($rout, $fd, 1);
      my ($fh, $log) = @{ $open{$fd} };
      my $got = sysread($fh, my $buf, 65536);
      next if !defined $got && ($! == EAGAIN || $! == EINTR);
      if ($got) { append_log($log, $buf); next }
      close $fh;
      delete $open{$fd};
    }
  }
  # WNOHANG is 1 on Linux (no POSIX here for its constant).
  if (!defined $status && waitpid($pid, 1) == $pid) { $status = $? }
}
close $fifo if $fifo;
unlink "$dir/stdin", "$dir/control";
close $_->{fh} for values %log;
my ($kind, $value) = $timed_out ? (0, 124) : ($status & 127) ? (1, $status & 127) : (0, $status >> 8);
write_file("$dir/exit", "kind=$kind\nvalue=$value\nendedAtMs=" . now_ms() . "\ntimedOut=$timed_out\n");
exit 0;
KEEPER

use constant {
  VERSION => 1,
  MAX_PAYLOAD => 1 << 20,
  OUT_LIMIT => 1 << 20,    # queued stdout bytes above which no log is read
  LOG_CHUNK => 256 << 10,    # one OUT/ERROUT frame at most
  IN_CHUNK => 256 << 10,    # one read of stdin
  POLL_FAST_MS => 2,    # a FOLLOW's poll interval while output flows
  POLL_SLOW_MS => 25,    # ... and at most when idle
  POLL_IDLE_MS => 100,    # ... once idle for IDLE_AFTER_MS (200 idle FOLLOWs cost ~15% of a core at 25 ms)
  IDLE_AFTER_MS => 2000,
  FAST_FOR_MS => 100,
  POLL_SLACK_MS => 3,    # a FOLLOW due this soon is polled with the one that is due    # how long it polls fast after output, an INPUT or a SIGNAL
  KEEPER_CHECK_MS => 1000,    # how often an idle FOLLOW checks that the keeper is still there
  SPAWN_REPORT_MS => 30_000,    # how long a keeper may take to report (a loaded VM starting 200)
};
use constant {
  SPAWN => 0x01, FOLLOW => 0x02, UNFOLLOW => 0x03, INPUT => 0x04, CLOSE_STDIN => 0x05, SIGNAL => 0x06,
  LIST => 0x07, PING => 0x08,
};
use constant {
  HELLO => 0x80, STARTED => 0x81, INFO => 0x82, OUT_FRAME => 0x83, ERROUT_FRAME => 0x84, EXITED => 0x85,
  ENTRY => 0x86, OK => 0x87, ERR => 0x88, FATAL => 0x89,
};

my ($shell, $root, $host_tag, $keep_ms, $umask);
my ($out, $out_off) = ('', 0);    # frames queued for stdout
my $in = '';    # stdin bytes not yet parsed
my %busy;    # request id => the request in flight (spawn, follow, input)
my %spawned;    # process id => { detached, tag, dir } for every process this host started
my %inputs;    # process id => { fh, queue } of INPUT/CLOSE_STDIN waiting for the FIFO
my %follows;    # request id => follow record
my %readers;    # fd => [fh, callback]
my %writers;    # fd => [fh, callback]
my ($sig_r, $sig_w);
my $stop;
my %errname;

sub reset_signals {
  local $SIG{__WARN__} = sub { };
  for my $name (keys %SIG) { $SIG{$name} = 'DEFAULT' unless $name =~ /^__/ }
  POSIX::sigprocmask(POSIX::SIG_SETMASK(), POSIX::SigSet->new);
}

sub close_fds_from {
  my ($first, @keep) = @_;
  my %keep = map { $_ => 1 } @keep;
  my @fds = ($first .. 1023);
  if (opendir(my $dh, '/proc/self/fd')) { @fds = grep { /^\d+$/ && $_ >= $first } readdir $dh; closedir $dh }
  POSIX::close($_) for grep { !$keep{$_} } @fds;
}

sub queued { length($out) - $out_off }

sub send_frame {
  my ($type, $id, $payload) = @_;
  $payload = '' unless defined $payload;
  $out .= pack('NCN', 5 + length $payload, $type, $id) . $payload;
}

sub str { pack('N', length $_[0]) . $_[0] }

sub u64 {
  my ($n) = @_;
  $n = 0 if !$n || $n < 0;
  pack('NN', int($n / 4294967296), $n - int($n / 4294967296) * 4294967296);
}

sub errname {
  my $num = $! + 0;
  if (!%errname) {
    for my $name (sort keys %!) {
      my $code = Errno->can($name) or next;
      my $value = eval { $code->() };
      $errname{$value} = $name if defined $value && !exists $errname{$value};
    }
  }
  return $errname{$num} || 'EIO';
}

sub send_err {
  my ($id, $errno, $message) = @_;
  send_frame(ERR, $id, str($errno) . str($message));
}

sub send_errno { my ($id) = @_; my $name = errname(); send_err($id, $name, "$!") }

sub watch_read { my ($fh, $cb) = @_; $readers{fileno $fh} = [$fh, $cb] }
sub unwatch_read { delete $readers{fileno $_[0]} }
sub watch_write { my ($fh, $cb) = @_; $writers{fileno $fh} = [$fh, $cb] }
sub unwatch_write { delete $writers{fileno $_[0]} }

sub fields {
  my ($payload, @spec) = @_;
  my ($pos, $end, @values) = (0, length $payload);
  for my $kind (@spec) {
    if ($kind eq 'bytes') { push @values, substr($payload, $pos); $pos = $end; next }
    my $size = $kind eq 'u64' ? 8 : 4;
    die ['EPROTO', 'payload too short'] if $pos + $size > $end;
    my ($first, $second) = unpack('NN', substr($payload, $pos, $size) . "\0\0\0\0");
    $pos += $size;
    if ($kind eq 'u32') { push @values, $first; next }
    if ($kind eq 'u64') { push @values, $first * 4294967296 + $second; next }
    die ['EPROTO', 'payload too short'] if $pos + $first > $end;
    my $value = substr($payload, $pos, $first);
    $pos += $first;
    die ['EPROTO', 'NUL in a field'] if index($value, "\0") >= 0;
    push @values, $value;
  }
  die ['EPROTO', 'bytes after the last field'] if $pos != $end;
  return @values;
}

# A process id names its directory: nothing that could climb out of it or need quoting.
sub check_id {
  my ($pid_id) = @_;
  die ['EINVAL', 'bad process id'] unless $pid_id =~ /\A[A-Za-z0-9_-]{1,64}\z/;
  return "$root/$pid_id";
}

sub known_dir {
  my ($pid_id) = @_;
  my $dir = check_id($pid_id);
  die ['ENOENT', 'no such process'] unless -f "$dir/info";
  return $dir;
}

sub remove_dir {
  my ($dir) = @_;
  if (opendir(my $dh, $dir)) {
    unlink map { "$dir/$_" } grep { $_ ne '.' && $_ ne '..' } readdir $dh;
    closedir $dh;
  }
  rmdir $dir;
}

# ---- spawn ------------------------------------------------------------------------------------

sub req_spawn {
  my ($id, $payload) = @_;
  my ($pid_id, $command, $line, $flags, $timeout_ms) = fields($payload, qw(str str str u32 u32));
  my $dir = check_id($pid_id);
  my $detached = $flags & 1;
  my $tag = $detached ? "exedev-proc-$pid_id" : "$host_tag.$pid_id";
  if (!mkdir($dir, 0700)) { return send_err($id, 'EEXIST', 'process id in use') if $!{EEXIST}; return send_errno($id) }
  my ($report_r, $report_w);
  my $fail = sub { my $name = errname(); my $why = "$!"; remove_dir($dir); send_err($id, $name, $why) };
  return $fail->() unless write_file("$dir/command", $command) && pipe($report_r, $report_w);
  my $pid = fork;
  return $fail->() unless defined $pid;
  if ($pid == 0) {
    eval {
      my $keeper = fork;
      POSIX::_exit(0) if !defined $keeper || $keeper;
      start_keeper($dir, $tag, $timeout_ms, $line, $report_w);
    };
    POSIX::_exit(127);
  }
  close $report_w;
  nonblock($report_r);
  my $req = { kind => 'spawn', id => $id, pid_id => $pid_id, dir => $dir, got => '', fh => $report_r,
    middle => $pid, deadline => now_ms() + SPAWN_REPORT_MS };
  $busy{$id} = $req;
  $spawned{$pid_id} = { detached => $detached, tag => $tag, dir => $dir, pending => 1 };
  watch_read($report_r, sub { on_report($req) });
}

# In the host's grandchild: no child of the host (its parent has exited), leading a session of
# its own. It makes the FIFOs and pipes and forks the command here, where POSIX is loaded, reports
# to the host, and then becomes the keeper: a fresh perl, so that its environment (what
# /proc/PID/environ shows, and kill scripts search) carries the process's tag, not the host's.
# It keeps none of the host's descriptors: the host's stdout held open would keep its channel open.
sub start_keeper {
  my ($dir, $tag, $timeout_ms, $line, $report) = @_;
  my $fail = sub { my $name = errname(); syswrite($report, "err $name\n"); POSIX::_exit(1) };
  POSIX::setsid();
  $SIG{$_} = 'IGNORE' for qw(HUP INT TERM PIPE USR1 USR2);
  $SIG{CHLD} = 'DEFAULT';
  $ENV{EXEDEV_RUN} = $tag;
  my ($fifo, $fifo_in, $control, $out_r, $out_w, $err_r, $err_w, $sync_r, $sync_w);
  for my $name (qw(stdin control)) { POSIX::mkfifo("$dir/$name", 0600) or $fail->() }
  sysopen($fifo, "$dir/stdin", O_RDWR) or $fail->();
  sysopen($fifo_in, "$dir/stdin", O_RDONLY | O_NONBLOCK) or $fail->();
  fcntl($fifo_in, F_SETFL, 0);    # the command reads its stdin blocking
  sysopen($control, "$dir/control", O_RDWR) or $fail->();
  for my $name (qw(out err)) { sysopen(my $fh, "$dir/$name-0", O_WRONLY | O_CREAT | O_APPEND, 0600) or $fail->() }
  # The sync pipe closes at the command's exec (close-on-exec): the report waits for it, so the
  # command leads its own group by the time the host hears of it.
  (pipe($out_r, $out_w) && pipe($err_r, $err_w) && pipe($sync_r, $sync_w)) or $fail->();
  my $pid = fork;
  $fail->() unless defined $pid;
  if ($pid == 0) {
    eval {
      POSIX::setsid();
      reset_signals();
      umask oct($umask);
      POSIX::dup2(fileno $fifo_in, 0);
      POSIX::dup2(fileno $out_w, 1);
      POSIX::dup2(fileno $err_w, 2);
      close_fds_from(3, fileno $sync_w);
      my ($argv0) = $shell =~ m{([^/]*)\z};
      { no warnings 'exec'; exec { $shell } $argv0, '-c', $line }
      syswrite(STDERR, "exedev keeper: cannot run the shell: $!\n");
    };
    POSIX::_exit(127);
  }
  my $started = now_ms();
  close $_ for $fifo_in, $out_w, $err_w, $sync_w;
  while (1) {
    my $n = sysread($sync_r, my $drain, 64);
    last if defined $n ? !$n : !$!{EINTR};
  }
  my ($ticks, $my_ticks) = map { my $t = start_ticks($_); defined $t ? $t : '' } $pid, $$;
  write_file("$dir/info", "pid=$pid\nstartedAtMs=$started\nstartTicks=$ticks\ndetached="
    . ($tag =~ /^exedev-proc-/ ? 1 : 0) . "\ntimeoutMs=$timeout_ms\nkeeper=$$\nkeeperTicks=$my_ticks\ntag=$tag\n")
    or kill('KILL', -$pid, $pid), $fail->();
  # Each first to a number above any the host uses, so that placing one at 3-7 cannot overwrite
  # another still to be placed; dup2 leaves the copies without close-on-exec.
  my @high = map { fcntl($_, F_DUPFD, 100) } $out_r, $err_r, $fifo, $control, $report;
  if (grep { !defined } @high) { kill 'KILL', -$pid, $pid; $fail->() }
  POSIX::dup2($high[$_], 3 + $_) for 0 .. 4;
  my $null = POSIX::open('/dev/null', O_RDWR);
  POSIX::dup2($null, $_) for 0 .. 2;
  close_fds_from(8);
  reset_signals();
  $SIG{$_} = 'IGNORE' for qw(HUP INT TERM PIPE USR1 USR2);
  my $constants = join '', map { "sub $_ () { " . __PACKAGE__->can($_)->() . " }\n" } KEEPER_CONSTANTS;
  { no warnings 'exec'; exec { $^X } "exedev-keeper " . ($dir =~ m{([^/]+)\z})[0], '-e', "$constants$COMMON\n$KEEPER", $dir, $tag, $timeout_ms, $gettimeofday, $pid, $started }
  # No keeper: the command must not run on unobserved (the host answers ERR at the pipe's end).
  kill 'KILL', -$pid, $pid;
  POSIX::_exit(127);
}

sub on_report {
  my ($req) = @_;
  my $n = sysread($req->{fh}, $req->{got}, 256, length $req->{got});
  return if !defined $n && ($!{EAGAIN} || $!{EINTR});
  return if $n && $req->{got} !~ /\n/;
  end_spawn($req);
}

sub end_spawn {
  my ($req) = @_;
  unwatch_read($req->{fh});
  close $req->{fh};
  delete $busy{ $req->{id} };
  my $proc = $spawned{ $req->{pid_id} };
  delete $proc->{pending};
  my @deferred = @{ delete $proc->{follows} || [] };
  delete $busy{ $_->[0] } for @deferred;
  if ($req->{got} =~ /\Aok (\d+) (\d+)\n/) {
    send_frame(STARTED, $req->{id}, pack('N', $1) . u64($2));
    handle(FOLLOW, @$_) for @deferred;
    return;
  }
  delete $spawned{ $req->{pid_id} };
  my ($errno) = $req->{got} =~ /\Aerr (\w+)/;
  remove_dir($req->{dir});
  send_err($req->{id}, $errno || 'EIO', 'the process could not be started');
  send_err($_->[0], 'ENOENT', 'no such process') for @deferred;
}

# A keeper that never reported is given up (ERR), and whatever it started dies with it.
sub check_spawns {
  my $now = now_ms();
  for my $req (grep { $_->{kind} eq 'spawn' && $now > $_->{deadline} } values %busy) {
    my $proc = $spawned{ $req->{pid_id} };
    kill_tree(0, $proc->{tag}) if $proc;
    end_spawn($req);
  }
}

# ---- follow -----------------------------------------------------------------------------------

sub entry_state {
  my ($dir) = @_;
  my $info = read_pairs("$dir/info") or return;
  my $exit = read_pairs("$dir/exit");
  if (!$exit && !alive($info->{keeper}, $info->{keeperTicks})) {
    # The keeper may have written the exit file just before it went.
    $exit = read_pairs("$dir/exit");
    if (!$exit) {
      unlink "$dir/stdin", "$dir/control";
      write_file("$dir/exit", "kind=2\nvalue=0\nendedAtMs=" . now_ms() . "\ntimedOut=0\n");
      $exit = read_pairs("$dir/exit") || { kind => 2, value => 0, endedAtMs => now_ms(), timedOut => 0 };
    }
  }
  return ($info, $exit);
}

sub state_flags {
  my ($info, $exit) = @_;
  return ($info->{detached} ? 1 : 0) | ($exit ? 2 : 0) | ($exit && $exit->{timedOut} ? 4 : 0);
}

sub req_follow {
  my ($id, $payload) = @_;
  my ($pid_id, $out_offset, $err_offset) = fields($payload, qw(str u64 u64));
  my $proc = $spawned{$pid_id};
  if ($proc && $proc->{pending}) {
    # Sent right behind its SPAWN (so the first output costs one round trip): it starts once
    # the keeper has reported, or gets ENOENT if the process could not be started.
    push @{ $proc->{follows} }, [$id, $payload];
    $busy{$id} = { kind => 'deferred', id => $id, proc => $proc };
    return;
  }
  my $dir = known_dir($pid_id);
  my ($info) = entry_state($dir) or die ['ENOENT', 'no such process'];
  my $command = read_file("$dir/command");
  $command = '' unless defined $command;
  send_frame(INFO, $id, pack('NN', $info->{pid}, state_flags($info, read_pairs("$dir/exit")))
    . u64($info->{startedAtMs}) . str($command));
  my $follow = {
    kind => 'follow', id => $id, pid_id => $pid_id, dir => $dir, info => $info,
    streams => [
      { name => 'out', type => OUT_FRAME, off => $out_offset },
      { name => 'err', type => ERROUT_FRAME, off => $err_offset },
    ],
    delay => POLL_FAST_MS, next => 0, fast => now_ms() + FAST_FOR_MS, check => now_ms() + KEEPER_CHECK_MS,
  };
  $busy{$id} = $follows{$id} = $follow;
}

sub end_follow {
  my ($follow) = @_;
  delete $follows{ $follow->{id} };
  delete $busy{ $follow->{id} };
  for my $s (@{ $follow->{streams} }) { close $s->{fh} if $s->{fh} }
}

sub req_unfollow {
  my ($id) = @_;
  my $waiting = $busy{$id};
  if ($waiting && $waiting->{kind} eq 'deferred') {
    $waiting->{proc}{follows} = [grep { $_->[0] != $id } @{ $waiting->{proc}{follows} }];
    delete $busy{$id};
    return send_frame(OK, $id);
  }
  my $follow = $follows{$id} or return;
  end_follow($follow);
  send_frame(OK, $id);
}

# Opens the segment holding the stream's offset; an offset older than the oldest segment moves
# to its start (the OUT frame's offset then shows the jump).
sub open_segment {
  my ($follow, $s) = @_;
  opendir(my $dh, $follow->{dir}) or return 0;
  my @starts = sort { $a <=> $b } map { /\A$s->{name}-(\d+)\z/ ? $1 : () } readdir $dh;
  closedir $dh;
  return 0 unless @starts;
  my ($start) = grep { $_ <= $s->{off} } reverse @starts;
  if (!defined $start) { $start = $starts[0]; $s->{off} = $start }
  sysopen(my $fh, "$follow->{dir}/$s->{name}-$start", O_RDONLY) or return 0;
  my $at = $s->{off} - $start;
  $at = SEGMENT if $at > SEGMENT;
  sysseek($fh, $at, 0);
  $s->{off} = $start + $at;
  @$s{qw(fh start)} = ($fh, $start);
  return 1;
}

# Sends what the stream's log has beyond the offset, one frame at most; returns the bytes sent.
sub pump_stream {
  my ($follow, $s) = @_;
  for (1 .. 3) {
    return 0 unless $s->{fh} || open_segment($follow, $s);
    my $want = $s->{start} + SEGMENT - $s->{off};
    $want = LOG_CHUNK if $want > LOG_CHUNK;
    my $n = $want > 0 ? sysread($s->{fh}, my $buf, $want) : 0;
    if ($n) {
      send_frame($s->{type}, $follow->{id}, u64($s->{off}) . $buf);
      $s->{off} += $n;
      return $n;
    }
    # The end of a full segment: on to the next one (or, rotated away meanwhile, the oldest).
    return 0 if $s->{off} < $s->{start} + SEGMENT;
    close delete $s->{fh};
  }
  return 0;
}

sub poll_follow {
  my ($follow, $now) = @_;
  my $sent = 0;
  for my $s (@{ $follow->{streams} }) {
    $sent += pump_stream($follow, $s);
    last if queued() > OUT_LIMIT;
  }
  if ($sent) { @$follow{qw(delay next fast)} = (POLL_FAST_MS, $now + POLL_FAST_MS, $now + FAST_FOR_MS); return }
  if ($follow->{exit}) {
    # Nothing more after the exit file was seen: everything has been sent.
    my $exit = $follow->{exit};
    send_frame(EXITED, $follow->{id}, pack('NN', $exit->{kind}, $exit->{value}) . u64($exit->{endedAtMs})
      . pack('N', $exit->{timedOut} ? 1 : 0));
    return end_follow($follow);
  }
  my $exit = read_pairs("$follow->{dir}/exit");
  if (!$exit && $now >= $follow->{check}) {
    $follow->{check} = $now + KEEPER_CHECK_MS;
    (undef, $exit) = entry_state($follow->{dir});
  }
  if ($exit) {
    # The logs are complete once the exit file exists: read them to their end, then EXITED.
    @$follow{qw(exit next)} = ($exit, $now);
    return;
  }
  $follow->{delay} *= 2 if $now >= $follow->{fast};
  my $most = $now - $follow->{fast} > IDLE_AFTER_MS ? POLL_IDLE_MS : POLL_SLOW_MS;
  $follow->{delay} = $most if $follow->{delay} > $most;
  $follow->{next} = $now + $follow->{delay};
}

# Polls the FOLLOWs that are due (or nearly: one wake-up serves several), starting one further
# each time so that a full stdout does not always favour the same ones.
my $follow_turn = 0;
sub poll_follows {
  return if queued() > OUT_LIMIT;
  my $now = now_ms();
  my @ids = keys %follows;
  my $first = $follow_turn++ % @ids;
  for my $id (@ids[$first .. $#ids], @ids[0 .. $first - 1]) {
    last if queued() > OUT_LIMIT;
    my $follow = $follows{$id} or next;
    poll_follow($follow, $now) if $follow->{next} <= $now + POLL_SLACK_MS;
  }
}

# Output often answers input or a signal: look at once.
sub hurry {
  my ($pid_id) = @_;
  my $now = now_ms();
  for my $follow (grep { $_->{pid_id} eq $pid_id } values %follows) {
    @$follow{qw(delay next fast)} = (POLL_FAST_MS, 0, $now + FAST_FOR_MS);
  }
}

# ---- stdin ------------------------------------------------------------------------------------

sub req_input {
  my ($id, $payload) = @_;
  my ($pid_id, $bytes) = fields($payload, qw(str bytes));
  my $dir = known_dir($pid_id);
  queue_input($pid_id, $dir, { kind => 'input', id => $id, data => $bytes });
}

sub req_close_stdin {
  my ($id, $payload) = @_;
  my ($pid_id) = fields($payload, qw(str));
  my $dir = known_dir($pid_id);
  queue_input($pid_id, $dir, { kind => 'close', id => $id });
}

sub queue_input {
  my ($pid_id, $dir, $req) = @_;
  $busy{ $req->{id} } = $req;
  my $stdin = $inputs{$pid_id} ||= { pid_id => $pid_id, dir => $dir, queue => [] };
  push @{ $stdin->{queue} }, $req;
  pump_input($stdin);
  hurry($pid_id);
}

sub pump_input {
  my ($stdin) = @_;
  local $SIG{PIPE} = 'IGNORE';
  while (my $req = $stdin->{queue}[0]) {
    if ($req->{kind} eq 'close') {
      close_fifo($stdin);
      # Removed here, before OK, so an INPUT after the OK is EPIPE; the keeper then closes its
      # end and the command reads end of file after what was written.
      unlink "$stdin->{dir}/stdin";
      if (sysopen(my $control, "$stdin->{dir}/control", O_WRONLY | O_NONBLOCK)) { syswrite($control, 'c'); close $control }
      answer_input($stdin, OK);
      next;
    }
    if (!length $req->{data}) { answer_input($stdin, OK); next }
    # Ended (also with its keeper gone): a descendant still holding the FIFO gets nothing more.
    if (-e "$stdin->{dir}/exit") { close_fifo($stdin); answer_input($stdin, ERR, 'EPIPE', 'the process has ended'); next }
    if (!$stdin->{fh}) {
      # O_NONBLOCK: a FIFO without its keeper must not block the host (ENXIO).
      if (!sysopen($stdin->{fh}, "$stdin->{dir}/stdin", O_WRONLY | O_NONBLOCK)) {
        delete $stdin->{fh};
        answer_input($stdin, ERR, 'EPIPE', 'stdin is closed');
        next;
      }
    }
    my $n = syswrite($stdin->{fh}, $req->{data});
    if (!defined $n) {
      next if $!{EINTR};
      if ($!{EAGAIN}) { watch_write($stdin->{fh}, sub { pump_input($stdin) }); return }
      close_fifo($stdin);
      answer_input($stdin, ERR, 'EPIPE', 'stdin is closed');
      next;
    }
    substr($req->{data}, 0, $n, '');
    answer_input($stdin, OK) unless length $req->{data};
  }
  # Closed while idle: an open writer would hold back the end of file of a CLOSE_STDIN.
  close_fifo($stdin);
  delete $inputs{ $stdin->{pid_id} };
}

sub answer_input {
  my ($stdin, $type, @err) = @_;
  my $req = shift @{ $stdin->{queue} };
  delete $busy{ $req->{id} };
  if ($type == OK) { send_frame(OK, $req->{id}) } else { send_err($req->{id}, @err) }
}

sub close_fifo {
  my ($stdin) = @_;
  my $fh = delete $stdin->{fh} or return;
  unwatch_write($fh);
  close $fh;
}

# ---- signal, list, ping -----------------------------------------------------------------------

sub signal_process {
  my ($dir, $signo) = @_;
  my $info = read_pairs("$dir/info") or return;
  return if -e "$dir/exit";
  # The group outlives its leader while a member runs (a background job holding the output
  # open): it is signalled while the shell or the keeper is still there. With both gone the
  # group is ended, and its number could be someone else's.
  my $pid = $info->{pid};
  my $group = alive($pid, $info->{startTicks}) || alive($info->{keeper}, $info->{keeperTicks}) ? $pid : 0;
  if ($signo == 9) { kill_tree($group, $info->{tag}, $info->{keeper}); return }
  kill $signo, -$group if $group;
}

sub req_signal {
  my ($id, $payload) = @_;
  my ($pid_id, $signo) = fields($payload, qw(str u32));
  my $dir = known_dir($pid_id);
  die ['EINVAL', 'bad signal number'] if $signo < 1 || $signo > 64;
  signal_process($dir, $signo);
  hurry($pid_id);
  send_frame(OK, $id);
}

# Finished entries past the keep time go (so do directories of spawns that never started).
sub clean_up {
  opendir(my $dh, $root) or return;
  my @ids = grep { /\A[A-Za-z0-9_-]{1,64}\z/ } readdir $dh;
  closedir $dh;
  my $now = now_ms();
  for my $pid_id (@ids) {
    my $dir = "$root/$pid_id";
    next if $spawned{$pid_id} && $spawned{$pid_id}{pending};
    if (!-e "$dir/info") {
      my @st = stat $dir;
      remove_dir($dir) if @st && $st[9] < time - SPAWN_REPORT_MS / 1000 - 60;
      next;
    }
    my ($info, $exit) = entry_state($dir);
    remove_dir($dir) if $exit && $exit->{endedAtMs} + $keep_ms <= $now;
  }
}

sub req_list {
  my ($id, $payload) = @_;
  fields($payload);
  clean_up();
  opendir(my $dh, $root) or return send_frame(OK, $id);
  my @ids = sort grep { /\A[A-Za-z0-9_-]{1,64}\z/ } readdir $dh;
  closedir $dh;
  for my $pid_id (@ids) {
    my $dir = "$root/$pid_id";
    my ($info, $exit) = entry_state($dir) or next;
    my $command = read_file("$dir/command");
    $command = '' unless defined $command;
    send_frame(ENTRY, $id, str($pid_id) . pack('NNNN', $info->{pid}, state_flags($info, $exit),
      $exit ? ($exit->{kind}, $exit->{value}) : (0, 0)) . u64($info->{startedAtMs})
      . u64($exit ? $exit->{endedAtMs} : 0) . str($command));
  }
  send_frame(OK, $id);
}

sub req_ping { send_frame(OK, $_[0], $_[1]) }

# ---- the loop ---------------------------------------------------------------------------------

my %handlers = (
  SPAWN, \&req_spawn, FOLLOW, \&req_follow, INPUT, \&req_input, CLOSE_STDIN, \&req_close_stdin,
  SIGNAL, \&req_signal, LIST, \&req_list, PING, \&req_ping,
);

sub handle {
  my ($type, $id, $payload) = @_;
  my $ok = eval {
    if ($type == UNFOLLOW) { req_unfollow($id) }
    elsif (!$handlers{$type}) { send_err($id, 'EPROTO', 'unknown request type') }
    elsif ($busy{$id}) { send_err($id, 'EPROTO', 'id already in flight') }
    else { $handlers{$type}->($id, $payload) }
    1;
  };
  return if $ok;
  my $error = $@;
  if (ref $error eq 'ARRAY') { send_err($id, @$error) }
  else {
    my ($where) = "$error" =~ /( at .+? line \d+)/;
    print STDERR 'exedev process host: internal error' . ($where || '') . "\n";
    send_err($id, 'EIO', 'internal process host error');
  }
}

sub fatal {
  my ($reason) = @_;
  send_frame(FATAL, 0, str($reason));
  $stop ||= 'fatal';
}

sub on_stdin {
  my $n = sysread(STDIN, $in, IN_CHUNK, length $in);
  if (!defined $n) { return if $!{EAGAIN} || $!{EINTR} }
  if (!$n) { $stop ||= 'eof'; return }
  my $pos = 0;
  while (!$stop && length($in) - $pos >= 4) {
    my $length = unpack('N', substr($in, $pos, 4));
    if ($length < 5 || $length > MAX_PAYLOAD + 5) { fatal("bad frame length $length"); last }
    last if length($in) - $pos < 4 + $length;
    my ($type, $id) = unpack('CN', substr($in, $pos + 4, 5));
    my $payload = substr($in, $pos + 9, $length - 5);
    $pos += 4 + $length;
    handle($type, $id, $payload);
  }
  substr($in, 0, $pos, '');
}

sub flush_out {
  my $n = syswrite(STDOUT, $out, queued(), $out_off);
  if (!defined $n) {
    return if $!{EAGAIN} || $!{EINTR};
    ($out, $out_off) = ('', 0);
    $stop ||= 'eof';
    return;
  }
  $out_off += $n;
  if ($out_off == length $out) { ($out, $out_off) = ('', 0) }
  elsif ($out_off > LOG_CHUNK) { substr($out, 0, $out_off, ''); $out_off = 0 }
}

sub loop {
  until ($stop) {
    my ($rin, $win) = ('', '');
    vec($rin, $_, 1) = 1 for keys %readers;
    vec($win, $_, 1) = 1 for keys %writers;
    vec($win, 1, 1) = 1 if queued();
    my $timeout = 1;
    if (%follows && queued() <= OUT_LIMIT) {
      my $now = now_ms();
      for my $follow (values %follows) {
        my $left = ($follow->{next} - $now) / 1000;
        $timeout = $left if $left < $timeout;
      }
      $timeout = 0 if $timeout < 0;
    }
    my $n = select(my $rout = $rin, my $wout = $win, undef, $timeout);
    if ($n > 0) {
      flush_out() if vec($wout, 1, 1);
      for my $fd (keys %writers) {
        my $w = $writers{$fd} or next;
        $w->[1]->() if vec($wout, $fd, 1);
      }
      for my $fd (keys %readers) {
        my $r = $readers{$fd} or next;
        $r->[1]->() if vec($rout, $fd, 1);
        last if $stop;
      }
    }
    while (waitpid(-1, POSIX::WNOHANG()) > 0) { }
    check_spawns() if grep { $_->{kind} eq 'spawn' } values %busy;
    poll_follows() if %follows;
    flush_out() if queued();
  }
}

# End of input, FATAL, SIGHUP/SIGTERM/SIGPIPE: every non-detached process this host started dies
# (its keeper records the exit); detached ones are left alone.
sub shut_down {
  my $deadline = now_ms() + 2000;
  # A keeper still starting would fork its command after the kill: let it report first.
  while ((grep { $_->{kind} eq 'spawn' } values %busy) && now_ms() < $deadline) {
    my $rin = '';
    vec($rin, fileno $_->{fh}, 1) = 1 for grep { $_->{kind} eq 'spawn' } values %busy;
    select(my $rout = $rin, undef, undef, 0.05);
    on_report($_) for grep { $_->{kind} eq 'spawn' } values %busy;
  }
  my (@targets, @keepers);
  for my $proc (grep { !$_->{detached} } values %spawned) {
    my $info = read_pairs("$proc->{dir}/info");
    # Never reported: its keeper (carrying the tag) dies too.
    if (!$info) { push @targets, [0, $proc->{tag}]; next }
    next if -e "$proc->{dir}/exit";
    push @targets, [alive($info->{pid}, $info->{startTicks}) ? $info->{pid} : 0, $proc->{tag}];
    push @keepers, $info->{keeper};
  }
  kill_trees(\@targets, @keepers) if @targets;
  $deadline = now_ms() + 2000;
  while (queued() && now_ms() <= $deadline) {
    my $win = '';
    vec($win, 1, 1) = 1;
    flush_out() if select(undef, my $wout = $win, undef, 0.1) > 0;
  }
}

sub make_root {
  my $dir = '';
  for my $part (grep { length } split m{/}, $root) {
    $dir .= "/$part";
    next if -d $dir;
    mkdir($dir, 0700) or $!{EEXIST} or return 0;
  }
  # Private, whatever the umask was when an older host made it.
  chmod 0700, $root, "$root/..";
  return 1;
}

sub main {
  delete $ENV{_};
  delete $ENV{SHLVL} if defined $ENV{SHLVL} && $ENV{SHLVL} eq '0';
  $shell = defined $ENV{SHELL} && length $ENV{SHELL} ? $ENV{SHELL} : '/bin/sh';
  my $home = defined $ENV{HOME} && length $ENV{HOME} ? $ENV{HOME} : (getpwuid $<)[7];
  $home = '/' unless defined $home && length $home;
  $root = "$home/.exedev-sandbox/processes";
  $root =~ s{//+}{/}g;
  $host_tag = defined $ENV{EXEDEV_RUN} && $ENV{EXEDEV_RUN} =~ /\A[A-Za-z0-9._-]+\z/ ? $ENV{EXEDEV_RUN} : "exedev-host-$$";
  $keep_ms = defined $ENV{EXEDEV_PROC_KEEP_MS} && $ENV{EXEDEV_PROC_KEEP_MS} =~ /\A\d+\z/ ? $ENV{EXEDEV_PROC_KEEP_MS} : 3_600_000;
  # Every file and directory of the state is private; commands get the umask back.
  $umask = sprintf('%04o', umask(077));
  my $machine = (POSIX::uname())[4] || '';
  $gettimeofday = { x86_64 => 96, aarch64 => 169, i686 => 78, i386 => 78, armv7l => 78 }->{$machine} || 0;
  $SIG{__WARN__} = sub {
    my ($where) = "$_[0]" =~ /( at .+? line \d+)/;
    print STDERR 'exedev process host: warning' . ($where || '') . "\n";
  };

  pipe($sig_r, $sig_w) or die "pipe: $!";
  nonblock($_) for $sig_r, $sig_w, \*STDOUT;
  $SIG{CHLD} = sub { syswrite($sig_w, 'c') };
  $SIG{$_} = sub { $stop ||= 'signal'; syswrite($sig_w, 's') } for qw(HUP TERM PIPE);
  watch_read($sig_r, sub { sysread($sig_r, my $drain, 512) });
  watch_read(\*STDIN, \&on_stdin);

  my $ok = make_root();
  send_frame(HELLO, 0, pack('NN', VERSION, $$) . str($root) . str($host_tag));
  fatal("cannot create the state directory") unless $ok;
  clean_up() if $ok;
  $ok = eval { loop(); 1 };
  if (!$ok) {
    my ($where) = "$@" =~ /( at .+? line \d+)/;
    print STDERR 'exedev process host: internal error' . ($where || '') . "\n";
    fatal('internal process host error');
    $stop = 'error';
  }
  eval { shut_down(); 1 } or print STDERR "exedev process host: error while shutting down\n";
  exit($stop eq 'error' ? 1 : 0);
}

main();
