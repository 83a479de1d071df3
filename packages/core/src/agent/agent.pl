# The exedev in-VM agent, protocol version 2. PROTOCOL.md beside this file is the reference;
# read it first. Runs as `perl -e SOURCE` or is eval'd by a bootstrap, so nothing here relies on
# $0, __END__/__DATA__ or the file's path, and everything runs from main() (which exits).
# Only modules of Debian's essential perl-base package: it must run on any Debian or Ubuntu VM.
package ExedevAgent;
use strict;
use warnings;
use POSIX ();
use Fcntl qw(O_RDONLY O_RDWR O_WRONLY O_CREAT O_EXCL O_NONBLOCK F_GETFL F_SETFL);
use Errno ();

use constant {
  VERSION => 2,
  MAX_PAYLOAD => 1 << 20,
  OUT_LIMIT => 1 << 20,    # queued stdout bytes above which output producers are not read
  DATA_CHUNK => 256 << 10,    # a READ's DATA frames
  PIPE_CHUNK => 64 << 10,    # one read of a command's output (a pipe holds 64 KiB)
  IN_CHUNK => 256 << 10,    # one read of stdin
  MAX_RUNNING => 128,
  MAX_OPEN_READS => 16,    # READs with an open file at once: 1000 concurrent READs must not hit EMFILE
  MAX_KILLERS => 16,    # kill scripts at once while shutting down
  KILLER_TIMEOUT => 10,    # seconds a kill script may run before its command's group is killed anyway
  FLUSH_TIMEOUT => 2,    # seconds to hand the last frames (FATAL) to the client when shutting down
  NO_MODE => 0xFFFFFFFF,
};
use constant {
  EXEC => 0x01, INPUT => 0x02, KILL => 0x03, ACK => 0x04, READ => 0x10, WRITE => 0x11, STAT => 0x12,
  LSTAT => 0x13, READDIR => 0x14, MKDIR => 0x15, RM => 0x16, RENAME => 0x17, PING => 0x18,
  READ_STREAM => 0x19,
};
use constant {
  HELLO => 0x80, STDOUT_FRAME => 0x81, STDERR_FRAME => 0x82, EXIT => 0x83, DATA => 0x84, OK => 0x85,
  ERR => 0x86, FATAL => 0x87,
};

my ($shell, $home);
my ($out, $out_off) = ('', 0);    # frames queued for stdout; bytes before $out_off are written
my $in = '';    # stdin bytes not yet parsed into frames
my %busy;    # id => the request in flight (kind exec, read or write)
my @waiting;    # EXECs beyond MAX_RUNNING, in order
my $running = 0;    # EXECs started and not yet answered with EXIT
my %by_pid;    # our children: pid => exec or killer record
my %killers;    # pid => killer record, for kill scripts still running
my @read_queue;    # READs waiting for one of the MAX_OPEN_READS slots
my $open_reads = 0;
my %readers;    # fd => [fh, producer?, callback]; producers pause while OUT_LIMIT is queued
my %writers;    # fd => [fh, callback]
my ($sig_r, $sig_w);    # the self-pipe that wakes select() for a signal
my $stop;    # why the loop ends: 'eof', 'signal', 'fatal' or 'error'
my %errname;    # errno number => name, filled on first use
my $turn = 0;    # counts turns of the loop, for the round robin over readers

sub queued { length($out) - $out_off }

sub send_frame {
  my ($type, $id, $payload) = @_;
  $payload = '' unless defined $payload;
  $out .= pack('NCN', 5 + length $payload, $type, $id) . $payload;
}

sub str { pack('N', length $_[0]) . $_[0] }

# Perl's integers may be 32-bit: a u64 travels as two u32 halves.
sub u64 {
  my ($n) = @_;
  $n = 0 if $n < 0;
  pack('NN', int($n / 4294967296), $n - int($n / 4294967296) * 4294967296);
}

sub errname {
  my $num = $! + 0;
  if (!%errname) {
    # Sorted, so aliases (EAGAIN/EWOULDBLOCK) always map to the same name.
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
  utf8::encode($message) if utf8::is_utf8($message);
  send_frame(ERR, $id, str($errno) . str($message));
}

# ERR from the current $!; the message is strerror's text, never request data.
sub send_errno { my ($id) = @_; my $name = errname(); send_err($id, $name, "$!") }

sub nonblock {
  my ($fh) = @_;
  my $flags = fcntl($fh, F_GETFL, 0);
  fcntl($fh, F_SETFL, $flags | O_NONBLOCK) if defined $flags;
}

# $first: a descriptor read before this one when both are ready (a command's stdout before its
# stderr, so output written in that order arrives in that order, as sshd reads them).
sub watch_read { my ($fh, $producer, $cb, $first) = @_; $readers{fileno $fh} = [$fh, $producer, $cb, $first] }
sub unwatch_read { delete $readers{fileno $_[0]} }
sub watch_write { my ($fh, $cb) = @_; $writers{fileno $fh} = [$fh, $cb] }
sub unwatch_write { delete $writers{fileno $_[0]} }

# Splits a payload into the fields named in @spec (u32, u64, str, path, bytes). A short payload,
# bytes left over or a NUL in a path is a protocol error for this request only.
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
    die ['EPROTO', 'NUL in path'] if $kind eq 'path' && index($value, "\0") >= 0;
    push @values, $value;
  }
  die ['EPROTO', 'bytes after the last field'] if $pos != $end;
  return @values;
}

sub stat_record {
  my @st = @_;
  pack('N', $st[2]) . u64($st[7]) . u64($st[9]) . pack('NN', $st[4], $st[5]);
}

# ---- commands ---------------------------------------------------------------------------------

sub reset_signals {
  local $SIG{__WARN__} = sub { };
  for my $name (keys %SIG) { $SIG{$name} = 'DEFAULT' unless $name =~ /^__/ }
  POSIX::sigprocmask(POSIX::SIG_SETMASK(), POSIX::SigSet->new);
}

# The command must hold no descriptor of the agent's: its stdin pipe or another command's pipes
# kept open would stop that command's EXIT. Perl marks its own close-on-exec; this also covers
# anything the agent inherited.
sub close_other_fds {
  my @fds = (3 .. 1023);
  if (opendir(my $dh, '/proc/self/fd')) { @fds = grep { /^\d+$/ && $_ > 2 } readdir $dh; closedir $dh }
  POSIX::close($_) for @fds;
}

# In the forked child: never returns.
sub run_child {
  my ($stdin_fd, $stdout_fd, $stderr_fd, $env, @argv) = @_;
  eval {
    POSIX::setsid();
    reset_signals();
    $stdin_fd = POSIX::open('/dev/null', O_RDONLY) unless defined $stdin_fd;
    POSIX::dup2($stdin_fd, 0);
    POSIX::dup2($stdout_fd, 1);
    POSIX::dup2($stderr_fd, 2);
    close_other_fds();
    @ENV{ keys %$env } = values %$env;
    my $program = shift @argv;
    { no warnings 'exec'; exec { $program } @argv }
    my $why = "$!";
    syswrite(STDERR, "exedev agent: cannot run the shell: $why\n");
  };
  POSIX::_exit(127);
}

sub req_exec {
  my ($id, $payload) = @_;
  my ($line, $tag, $kill, $flags) = fields($payload, qw(str str str u32));
  # An exec argument or environment value cannot hold a NUL.
  die ['EPROTO', 'NUL in command'] if index("$line$tag$kill", "\0") >= 0;
  my $cmd = {
    kind => 'exec', id => $id, line => $line, tag => $tag, kill => $kill,
    stdin => $flags & 1, inq => '', in_eof => 0, open => 0,
  };
  $busy{$id} = $cmd;
  if ($running < MAX_RUNNING) { start_exec($cmd) } else { push @waiting, $cmd }
}

sub start_exec {
  my ($cmd) = @_;
  my ($out_r, $out_w, $err_r, $err_w, $in_r, $in_w);
  my $ok = pipe($out_r, $out_w) && pipe($err_r, $err_w) && (!$cmd->{stdin} || pipe($in_r, $in_w));
  my $pid = $ok ? fork : undef;
  if (!defined $pid) {
    # No EXIT can follow: the command never ran. ERR says why (EAGAIN, EMFILE).
    my $name = errname();
    my $why = "$!";
    delete $busy{ $cmd->{id} };
    return send_err($cmd->{id}, $name, $why);
  }
  if ($pid == 0) {
    my ($argv0) = $shell =~ m{([^/]*)\z};
    run_child($in_r ? fileno $in_r : undef, fileno $out_w, fileno $err_w, { EXEDEV_RUN => $cmd->{tag} },
      $shell, $argv0, '-c', $cmd->{line});
  }
  close $out_w;
  close $err_w;
  close $in_r if $in_r;
  $running++;
  $cmd->{pid} = $pid;
  $by_pid{$pid} = $cmd;
  delete $cmd->{line};
  $cmd->{open} = 2;
  for ([$out_r, STDOUT_FRAME, undef], [$err_r, STDERR_FRAME, fileno $out_r]) {
    my ($fh, $type, $first) = @$_;
    nonblock($fh);
    watch_read($fh, 1, sub { pump_output($cmd, $fh, $type) }, $first);
  }
  if ($in_w) {
    nonblock($in_w);
    $cmd->{in} = $in_w;
    flush_input($cmd);
  }
}

sub start_waiting {
  start_exec(shift @waiting) while @waiting && $running < MAX_RUNNING;
}

sub pump_output {
  my ($cmd, $fh, $type) = @_;
  my $n = sysread($fh, my $buf, PIPE_CHUNK);
  return if !defined $n && ($!{EAGAIN} || $!{EINTR});
  if ($n) { send_frame($type, $cmd->{id}, $buf); return }
  unwatch_read($fh);
  close $fh;
  $cmd->{open}--;
  finish_exec($cmd);
}

# EXIT once the shell was reaped and both pipes reached EOF, as a channel closes.
sub finish_exec {
  my ($cmd) = @_;
  return if $cmd->{open} || !defined $cmd->{status} || $cmd->{done};
  my $st = $cmd->{status};
  my @exit = POSIX::WIFSIGNALED($st) ? (1, POSIX::WTERMSIG($st)) : (0, POSIX::WEXITSTATUS($st));
  send_frame(EXIT, $cmd->{id}, pack('NN', @exit));
  close_input($cmd);
  $cmd->{done} = 1;
  delete $busy{ $cmd->{id} };
  $running--;
  start_waiting();
}

sub flush_input {
  my ($cmd) = @_;
  my $fh = $cmd->{in} or return;
  # A command that stopped reading its stdin must not end the agent with SIGPIPE.
  local $SIG{PIPE} = 'IGNORE';
  while (length $cmd->{inq}) {
    my $n = syswrite($fh, $cmd->{inq});
    if (!defined $n) {
      next if $!{EINTR};
      if ($!{EAGAIN}) { watch_write($fh, sub { flush_input($cmd) }); return }
      # EPIPE: nobody reads this stdin any more; later INPUT is dropped.
      ($cmd->{inq}, $cmd->{in_eof}) = ('', 1);
      last;
    }
    substr($cmd->{inq}, 0, $n, '');
  }
  unwatch_write($fh);
  close_input($cmd) if $cmd->{in_eof};
}

sub close_input {
  my ($cmd) = @_;
  my $fh = delete $cmd->{in} or return;
  unwatch_write($fh);
  close $fh;
}

# SIGSTOP the group at once (nothing in it can fork further), then the kill script finds what
# left the group by its tag; the group gets SIGKILL when the script is done (killer_done).
sub kill_command {
  my ($cmd) = @_;
  return if $cmd->{killing} || $cmd->{done};
  $cmd->{killing} = 1;
  signal_command($cmd, 'STOP');
  return if length $cmd->{kill} && spawn_killer($cmd);
  signal_command($cmd, 'KILL');
}

# The group, and the shell itself while it is unreaped (its pid cannot be reused yet): a KILL
# right after EXEC may come before the child's setsid() made the group.
sub signal_command {
  my ($cmd, $signal) = @_;
  kill $signal, -$cmd->{pid};
  kill $signal, $cmd->{pid} unless defined $cmd->{status};
}

sub spawn_killer {
  my ($cmd) = @_;
  my $pid = fork;
  return 0 unless defined $pid;
  if ($pid == 0) {
    # Its output must never reach stdout, where it would corrupt the frames.
    my $null = POSIX::open('/dev/null', O_RDWR);
    run_child($null, $null, $null, {}, '/bin/sh', 'sh', '-c', $cmd->{kill});
  }
  my $killer = { kind => 'killer', pid => $pid, cmd => $cmd, deadline => time + KILLER_TIMEOUT };
  $by_pid{$pid} = $killers{$pid} = $killer;
  return 1;
}

sub killer_done {
  my ($killer) = @_;
  delete $killers{ $killer->{pid} };
  my $cmd = $killer->{cmd};
  signal_command($cmd, 'KILL') unless $cmd->{done};
}

# A kill script that hangs must not keep its command alive: past its deadline the command's
# group is killed anyway, and so is the script's own group.
sub check_killers {
  for my $killer (values %killers) {
    next if time < $killer->{deadline};
    kill 'KILL', -$killer->{pid};
    killer_done($killer);
  }
}

sub reap {
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $status = $?;
    my $rec = delete $by_pid{$pid} or next;
    if ($rec->{kind} eq 'killer') { killer_done($rec) if $killers{$pid}; next }
    $rec->{status} = $status;
    finish_exec($rec);
  }
}

sub req_input {
  my ($id, $payload) = @_;
  my $req = $busy{$id} or return;
  return write_input($req, $payload) if $req->{kind} eq 'write';
  return unless $req->{kind} eq 'exec' && $req->{stdin} && !$req->{in_eof};
  if (length $payload) { $req->{inq} .= $payload } else { $req->{in_eof} = 1 }
  flush_input($req);
}

sub req_kill {
  my ($id) = @_;
  my $req = $busy{$id} or return;
  if ($req->{kind} eq 'read') { return finish_read($req, 'ECANCELED', 'cancelled') }
  if ($req->{kind} eq 'write') { return abort_write($req, 'ECANCELED', 'cancelled') }
  return kill_command($req) if $req->{pid};
  # Still waiting to start: it never runs.
  @waiting = grep { $_ != $req } @waiting;
  delete $busy{$id};
  send_frame(EXIT, $id, pack('NN', 1, 9));
}

# ---- files ------------------------------------------------------------------------------------

sub req_read {
  my ($id, $payload) = @_;
  my ($path, $max) = fields($payload, qw(path u64));
  $busy{$id} = { kind => 'read', id => $id, path => $path, max => $max, got => 0 };
  push @read_queue, $busy{$id};
  open_reads();
}

# A READ_STREAM goes at its reader's pace, so it takes no MAX_OPEN_READS slot: a slow reader must
# not hold every READ up (too many at once is EMFILE, an answer, not a wait).
sub req_read_stream {
  my ($id, $payload) = @_;
  my ($path, $window) = fields($payload, qw(path u32));
  die ['EPROTO', 'window of 0 bytes'] unless $window;
  my $req = { kind => 'read', id => $id, path => $path, got => 0, window => $window, acked => 0 };
  $busy{$id} = $req;
  open_read($req);
}

sub open_reads {
  while (@read_queue && $open_reads < MAX_OPEN_READS) {
    my $req = shift @read_queue;
    $open_reads++ if open_read($req);
  }
}

# Opens a READ's file and starts pumping it; answers ERR (and returns false) when it cannot.
sub open_read {
  my ($req) = @_;
  # O_NONBLOCK: opening a FIFO must not block the agent.
  if (!sysopen(my $fh, delete $req->{path}, O_RDONLY | O_NONBLOCK)) {
    finish_read($req, errname(), "$!");
  } elsif (!stat $fh) {
    finish_read($req, errname(), "$!");
  } elsif (-d _) {
    finish_read($req, 'EISDIR', 'is a directory');
  } elsif (defined $req->{max} && -f _ && (stat _)[7] > $req->{max}) {
    finish_read($req, 'EFBIG', '' . (stat _)[7]);
  } else {
    $req->{fh} = $fh;
    $req->{slot} = !defined $req->{window};
    # select() reports a regular file always readable: one chunk per turn of the loop, so a
    # big READ shares the agent with everything else.
    watch_read($fh, 1, sub { pump_read($req) });
    return 1;
  }
  return 0;
}

# An ACK frees window; a READ_STREAM that waited for it is read again.
sub req_ack {
  my ($id, $payload) = @_;
  my $req = $busy{$id} or return;
  return unless $req->{kind} eq 'read' && defined $req->{window} && length($payload) == 4;
  $req->{acked} += unpack('N', $payload);
  if ($req->{paused} && $req->{got} - $req->{acked} < $req->{window}) {
    $req->{paused} = 0;
    watch_read($req->{fh}, 1, sub { pump_read($req) });
  }
}

sub pump_read {
  my ($req) = @_;
  my $want = DATA_CHUNK;
  if (defined $req->{window}) {
    my $room = $req->{window} - ($req->{got} - $req->{acked});
    # A file is always readable: unwatched until an ACK, or select() would spin.
    if ($room <= 0) { $req->{paused} = 1; return unwatch_read($req->{fh}) }
    $want = $room if $room < $want;
  } else {
    # One byte more than allowed tells a file that grew past maxBytes.
    $want = $req->{max} - $req->{got} + 1;
    $want = DATA_CHUNK if $want > DATA_CHUNK;
  }
  my $n = sysread($req->{fh}, my $buf, $want);
  if (!defined $n) {
    return if $!{EAGAIN} || $!{EINTR};
    return finish_read($req, errname(), "$!");
  }
  return finish_read($req) if $n == 0;
  $req->{got} += $n;
  if (defined $req->{max} && $req->{got} > $req->{max}) {
    my $size = (stat $req->{fh})[7];
    $size = $req->{got} if !defined $size || $size < $req->{got};
    return finish_read($req, 'EFBIG', "$size");
  }
  send_frame(DATA, $req->{id}, $buf);
}

sub finish_read {
  my ($req, $errno, $message) = @_;
  if (my $fh = delete $req->{fh}) { unwatch_read($fh); close $fh; $open_reads-- if $req->{slot} }
  @read_queue = grep { $_ != $req } @read_queue;
  delete $busy{ $req->{id} };
  if ($errno) { send_err($req->{id}, $errno, $message) } else { send_frame(OK, $req->{id}) }
}

sub random_hex {
  my $bytes = '';
  if (open(my $fh, '<', '/dev/urandom')) { sysread($fh, $bytes, 6); close $fh }
  $bytes .= pack('n', int rand 65536) while length $bytes < 6;
  return unpack('H12', $bytes);
}

# The temp file is created 0600 whatever its final mode: nobody reads partial data meanwhile.
sub create_temp {
  my ($dir, $name) = @_;
  for (1 .. 8) {
    my $temp = "$dir.$name." . random_hex() . '.tmp';
    my $fh;
    return ($fh, $temp) if sysopen($fh, $temp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    return if !$!{EEXIST};
  }
  return;
}

sub req_write {
  my ($id, $payload) = @_;
  my ($path, $mode) = fields($payload, qw(path u32));
  my ($dir, $name) = $path =~ m{\A(.*/)?([^/]*)\z}s;
  $dir = '' unless defined $dir;
  if ($path eq '') { $! = Errno::ENOENT(); return send_errno($id) }
  my @st = lstat $path;
  return send_err($id, 'EISDIR', 'is a directory') if $name eq '' || $name eq '.' || $name eq '..' || (@st && -d _);
  # Replacing a file keeps its permission bits, as editors do; a new one gets 0666 less umask.
  my $final = $mode != NO_MODE ? $mode & 07777 : (@st && -f _) ? $st[2] & 07777 : 0666 & ~umask;
  my ($fh, $temp) = create_temp($dir, $name);
  if (!$fh && $!{ENOENT} && $dir ne '') {
    return send_errno($id) unless mkdir_p($dir);
    ($fh, $temp) = create_temp($dir, $name);
  }
  return send_errno($id) unless $fh;
  $busy{$id} = { kind => 'write', id => $id, fh => $fh, temp => $temp, path => $path, mode => $final };
}

sub write_input {
  my ($req, $payload) = @_;
  my $fh = $req->{fh};
  if (length $payload) {
    for (my $off = 0; $off < length $payload;) {
      my $n = syswrite($fh, $payload, length($payload) - $off, $off);
      if (!defined $n) { next if $!{EINTR}; return abort_write($req, errname(), "$!") }
      $off += $n;
    }
    return;
  }
  # Complete: the exact mode, then the rename makes it visible all at once.
  chmod($req->{mode}, $fh) or return abort_write($req, errname(), "$!");
  close($fh) or return abort_write($req, errname(), "$!");
  rename($req->{temp}, $req->{path}) or return abort_write($req, errname(), "$!");
  delete $busy{ $req->{id} };
  send_frame(OK, $req->{id});
}

sub abort_write {
  my ($req, $errno, $message) = @_;
  close $req->{fh};
  unlink $req->{temp};
  delete $busy{ $req->{id} };
  send_err($req->{id}, $errno, $message);
}

sub req_stat {
  my ($id, $payload, $follow) = @_;
  my ($path) = fields($payload, 'path');
  my @st = $follow ? stat $path : lstat $path;
  # A dangling link describes the link itself.
  @st = lstat $path if $follow && !@st && $!{ENOENT};
  return send_errno($id) unless @st;
  send_frame(OK, $id, stat_record(@st));
}

sub req_readdir {
  my ($id, $payload) = @_;
  my ($path) = fields($payload, 'path');
  opendir(my $dh, $path) or return send_errno($id);
  my @names = grep { $_ ne '.' && $_ ne '..' } readdir $dh;
  closedir $dh;
  my ($count, $body) = (0, '');
  for my $name (@names) {
    my @st = lstat "$path/$name" or next;    # gone meanwhile
    $body .= str($name) . stat_record(@st);
    $count++;
    # One frame holds at most 1 MiB.
    return send_err($id, 'EFBIG', 'directory listing over 1 MiB') if length($body) + 4 > MAX_PAYLOAD;
  }
  send_frame(OK, $id, pack('N', $count) . $body);
}

# Like `mkdir -p`: existing directories along the way are fine. Returns false with $! set.
sub mkdir_p {
  no warnings 'recursion';
  my ($path) = @_;
  return 1 if mkdir $path, 0777;
  if ($!{EEXIST}) { return 1 if -d $path; $! = Errno::EEXIST(); return 0 }
  return 0 unless $!{ENOENT};
  (my $trimmed = $path) =~ s{/+\z}{};
  my ($parent) = $trimmed =~ m{\A(.*)/[^/]+\z}s or return 0;
  $parent = '/' if $parent eq '';
  return 0 unless mkdir_p($parent);
  return 1 if mkdir $path, 0777;
  if ($!{EEXIST}) { return 1 if -d $path; $! = Errno::EEXIST() }
  return 0;
}

sub req_mkdir {
  my ($id, $payload) = @_;
  my ($path, $flags) = fields($payload, qw(path u32));
  my $ok = $flags & 1 ? mkdir_p($path) : mkdir($path, 0777);
  return send_errno($id) unless $ok;
  send_frame(OK, $id);
}

# realpath(3) done here, so it behaves the same everywhere (Cwd's accepts a missing last name):
# every name must exist. Returns undef with $! set.
sub real_path {
  my ($path) = @_;
  if ($path eq '') { $! = Errno::ENOENT(); return }
  my @todo = split m{/}, $path, -1;
  my $cwd = $path =~ m{\A/} ? '/' : POSIX::getcwd();
  return unless defined $cwd;
  my @done = grep { $_ ne '' } split m{/}, $cwd;
  my $links = 0;
  while (@todo) {
    my $name = shift @todo;
    next if $name eq '' || $name eq '.';
    if ($name eq '..') { pop @done; next }
    my $at = '/' . join('/', @done, $name);
    lstat $at or return;
    if (-l _) {
      if (++$links > 40) { $! = Errno::ELOOP(); return }
      my $target = readlink $at;
      return unless defined $target;
      @done = () if $target =~ m{\A/};
      unshift @todo, split m{/}, $target, -1;
      next;
    }
    if (!-d _ && grep { $_ ne '' } @todo) { $! = Errno::ENOTDIR(); return }
    push @done, $name;
  }
  return '/' . join('/', @done);
}

# Removes a tree without following links: directories are entered only as lstat saw them, and
# only when the opened directory is still that one (not a link swapped in meanwhile).
sub remove_tree {
  no warnings 'recursion';
  my ($dir, $force, $dev, $ino) = @_;
  my $gone = sub { $force && $!{ENOENT} };
  opendir(my $dh, $dir) or return $gone->() ? 1 : 0;
  my @st = stat $dh;
  if (@st && ($st[0] != $dev || $st[1] != $ino)) { $! = Errno::EAGAIN(); return 0 }
  my @names = grep { $_ ne '.' && $_ ne '..' } readdir $dh;
  closedir $dh;
  for my $name (@names) {
    my $at = "$dir/$name";
    my @entry = lstat $at;
    if (!@entry) { next if $gone->(); return 0 }
    if (-d _) { remove_tree($at, $force, @entry[0, 1]) or return 0; next }
    unlink $at or $gone->() or return 0;
  }
  return rmdir($dir) || $gone->();
}

sub req_rm {
  my ($id, $payload) = @_;
  my ($path, $given_home, $flags) = fields($payload, qw(path path u32));
  my ($recursive, $force, $itself) = ($flags & 1, $flags & 2, $flags & 4);
  if ($path eq '') { return send_frame(OK, $id) if $force; $! = Errno::ENOENT(); return send_errno($id) }
  (my $trimmed = $path) =~ s{(?<=.)/+\z}{};
  my ($parent, $name) = $trimmed =~ m{\A(?:(.*)/)?([^/]*)\z}s;
  # The target is what the path names on the machine: a final link is removed itself, but a
  # last name `.` or `..` (or a path naming the directory itself) is resolved, so `rm .` in
  # home is refused like `rm ~`.
  my $target;
  if ($itself || $name eq '.' || $name eq '..' || $trimmed eq '/') {
    $target = real_path($path);
  } else {
    my $real_parent = real_path(defined $parent ? ($parent eq '' ? '/' : $parent) : '.');
    $target = defined $real_parent ? ($real_parent eq '/' ? "/$name" : "$real_parent/$name") : undef;
  }
  if (!defined $target) { return send_frame(OK, $id) if $force && $!{ENOENT}; return send_errno($id) }
  my $real_home = length $given_home ? real_path($given_home) : undef;
  if ($target eq '/' || $target eq $given_home || (defined $real_home && $target eq $real_home)) {
    return send_err($id, 'EREFUSED', $target eq '/' ? 'root' : 'home');
  }
  my @st = lstat $target;
  if (!@st) { return send_frame(OK, $id) if $force && $!{ENOENT}; return send_errno($id) }
  if (!-d _) {
    return send_frame(OK, $id) if unlink($target) || ($force && $!{ENOENT});
    return send_errno($id);
  }
  return send_err($id, 'EISDIR', 'is a directory') unless $recursive;
  return send_errno($id) unless remove_tree($target, $force, @st[0, 1]);
  send_frame(OK, $id);
}

sub req_rename {
  my ($id, $payload) = @_;
  my ($from, $to) = fields($payload, qw(path path));
  return send_errno($id) unless rename $from, $to;
  send_frame(OK, $id);
}

sub req_ping {
  my ($id, $payload) = @_;
  send_frame(OK, $id, $payload);
}

# ---- the loop ---------------------------------------------------------------------------------

my %handlers = (
  EXEC, \&req_exec, READ, \&req_read, WRITE, \&req_write,
  STAT, sub { req_stat(@_, 1) }, LSTAT, sub { req_stat(@_, 0) },
  READDIR, \&req_readdir, MKDIR, \&req_mkdir, RM, \&req_rm, RENAME, \&req_rename, PING, \&req_ping,
  READ_STREAM, \&req_read_stream,
);

sub handle {
  my ($type, $id, $payload) = @_;
  my $ok = eval {
    if ($type == INPUT) { req_input($id, $payload) }
    elsif ($type == KILL) { req_kill($id) }
    elsif ($type == ACK) { req_ack($id, $payload) }
    elsif (!$handlers{$type}) { send_err($id, 'EPROTO', 'unknown request type') }
    elsif ($busy{$id}) { send_err($id, 'EPROTO', 'id already in flight') }
    else { $handlers{$type}->($id, $payload) }
    1;
  };
  return if $ok;
  my $error = $@;
  if (ref $error eq 'ARRAY') { send_err($id, @$error) }
  else {
    # A bug, not the client's fault: answer, say where on stderr (never with request data).
    my ($where) = "$error" =~ /( at .+? line \d+)/;
    print STDERR 'exedev agent: internal error' . ($where || '') . "\n";
    send_err($id, 'EIO', 'internal agent error') unless $type == INPUT || $type == KILL || $type == ACK;
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
    # A bad length leaves no way to find the next frame.
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
    # The client is gone (EPIPE): nothing can be answered any more.
    ($out, $out_off) = ('', 0);
    $stop ||= 'eof';
    return;
  }
  $out_off += $n;
  if ($out_off == length $out) { ($out, $out_off) = ('', 0) }
  elsif ($out_off > DATA_CHUNK) { substr($out, 0, $out_off, ''); $out_off = 0 }
}

sub loop {
  until ($stop) {
    my ($rin, $win) = ('', '');
    my $full = queued() > OUT_LIMIT;
    for my $fd (keys %readers) { vec($rin, $fd, 1) = 1 unless $full && $readers{$fd}[1] }
    vec($win, $_, 1) = 1 for keys %writers;
    vec($win, 1, 1) = 1 if queued();
    # Perl runs signal handlers between ops: a SIGCHLD landing just before select() starts is
    # only seen when select returns, so the timeout bounds that (rare) delay.
    my $timeout = %by_pid ? 0.2 : 2;
    my $n = select(my $rout = $rin, my $wout = $win, undef, $timeout);
    if ($n > 0) {
      flush_out() if vec($wout, 1, 1);
      for my $fd (keys %writers) {
        my $w = $writers{$fd} or next;
        $w->[1]->() if vec($wout, $fd, 1);
      }
      # Round robin: a turn ends once OUT_LIMIT is queued, so each turn starts with the next
      # descriptor; otherwise a big READ that sorts first would starve a command's output.
      my @fds = sort { $a <=> $b } keys %readers;
      my $first = $turn++ % @fds;
      my %read;
      for my $fd (map { my $r = $readers{$_}; ($r && defined $r->[3] ? ($r->[3]) : (), $_) } @fds[$first .. $#fds], @fds[0 .. $first - 1]) {
        next if $read{$fd}++;
        my $r = $readers{$fd} or next;
        next unless vec($rout, $fd, 1);
        # Checked before each read: a turn of the loop never queues much more than OUT_LIMIT.
        next if $r->[1] && queued() > OUT_LIMIT;
        $r->[2]->();
        last if $stop;
      }
    }
    reap();
    check_killers();
    open_reads();
    flush_out() if queued();
  }
}

# End of input, FATAL, SIGHUP/SIGTERM/SIGPIPE: kill every command still running (its kill script,
# then SIGKILL to its group), remove the temp files of unfinished writes, exit.
sub shut_down {
  @waiting = ();
  my @cmds = grep { $_->{kind} eq 'exec' && $_->{pid} && !$_->{done} } values %busy;
  signal_command($_, 'STOP') for @cmds;
  my @todo = grep { !$_->{killing} } @cmds;
  while (@todo || %killers) {
    while (@todo && keys(%killers) < MAX_KILLERS) {
      my $cmd = shift @todo;
      $cmd->{killing} = 1;
      signal_command($cmd, 'KILL') unless length $cmd->{kill} && spawn_killer($cmd);
    }
    select(undef, undef, undef, 0.05);
    reap();
    check_killers();
  }
  signal_command($_, 'KILL') for grep { !$_->{done} } @cmds;
  for my $req (values %busy) {
    if ($req->{kind} eq 'write') { close $req->{fh}; unlink $req->{temp} }
  }
  my $deadline = time + FLUSH_TIMEOUT;
  while (queued() && time <= $deadline) {
    my $win = '';
    vec($win, 1, 1) = 1;
    flush_out() if select(undef, my $wout = $win, undef, 0.1) > 0;
  }
}

sub main {
  # Undo what the login shell did to start perl, so commands see what a channel exec sees.
  delete $ENV{_};
  # bash's `exec` lowers the level it raised: SHLVL is back to what sshd gave, except that
  # where there was none it is now 0.
  delete $ENV{SHLVL} if defined $ENV{SHLVL} && $ENV{SHLVL} eq '0';
  $shell = defined $ENV{SHELL} && length $ENV{SHELL} ? $ENV{SHELL} : '/bin/sh';
  $home = defined $ENV{HOME} ? $ENV{HOME} : (getpwuid $<)[7];
  $home = '' unless defined $home;
  $SIG{__WARN__} = sub {
    # Warnings may quote data; only where they happened goes to stderr.
    my ($where) = "$_[0]" =~ /( at .+? line \d+)/;
    print STDERR 'exedev agent: warning' . ($where || '') . "\n";
  };

  pipe($sig_r, $sig_w) or die "pipe: $!";
  nonblock($_) for $sig_r, $sig_w, \*STDOUT;
  $SIG{CHLD} = sub { syswrite($sig_w, 'c') };
  $SIG{$_} = sub { $stop ||= 'signal'; syswrite($sig_w, 's') } for qw(HUP TERM PIPE);
  watch_read($sig_r, 0, sub { sysread($sig_r, my $drain, 512) });
  watch_read(\*STDIN, 0, \&on_stdin);

  send_frame(HELLO, 0, pack('NN', VERSION, $$) . str($home) . str($shell));
  my $ok = eval { loop(); 1 };
  if (!$ok) {
    my ($where) = "$@" =~ /( at .+? line \d+)/;
    print STDERR 'exedev agent: internal error' . ($where || '') . "\n";
    fatal('internal agent error');
    $stop = 'error';
  }
  eval { shut_down(); 1 } or print STDERR "exedev agent: error while shutting down\n";
  exit($stop eq 'error' ? 1 : 0);
}

main();
