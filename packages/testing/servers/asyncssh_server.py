"""A small SSH server built on asyncssh, for exedev-sandbox's test matrix.

Run with Debian's /usr/bin/python3 (package python3-asyncssh). It behaves like a plain OpenSSH
server where core can tell the difference:
  * public-key auth only, for one user, keys from --authorized-keys;
  * "exec" runs `SHELL -c COMMAND` (--shell, default /bin/sh) in a new session (setsid, like
    sshd), so the shell leads its own process group; the channel closes once the command has
    exited AND its output reached EOF (a background child holding stdout keeps it open, as
    with sshd);
  * "signal" requests go to the shell's pid only (sshd does `kill(pid, sig)`);
  * a client closing the channel does not kill the command (sshd does not either);
  * subsystem "sftp" is asyncssh's own SFTPServer (not chrooted);
  * a "pty" request gives the command a real pseudo-terminal (stdin, stdout and stderr, its
    controlling terminal, TERM from the request), resized on "window-change", as sshd does.
It prints "LISTENING <port>" on stdout once it accepts connections. Fault hooks, by signal:
  SIGUSR1  drop: abort every connection and SIGKILL its commands' process groups;
  SIGUSR2  freeze: stop reading from every connection and SIGSTOP its commands (SIGUSR1 later
           drops the frozen ones, as `freezeConnections()`'s release does for sshd).
"""

import argparse
import asyncio
import fcntl
import os
import select
import signal
import struct
import sys
import termios

import asyncssh
import asyncssh.sftp

SHELL = ["/bin/sh"]  # set from --shell in main()
connections = set()  # live SSHServerConnection objects
commands = {}  # connection -> set of command pids (each leads its own process group)


def log(message):
    print(message, file=sys.stderr, flush=True)


class Server(asyncssh.SSHServer):
    def __init__(self, username, authorized_keys):
        self._username = username
        self._authorized_keys = authorized_keys
        self._conn = None

    def connection_made(self, conn):
        self._conn = conn
        connections.add(conn)
        commands[conn] = set()
        log(f"connection from {conn.get_extra_info('peername')}")

    def connection_lost(self, exc):
        connections.discard(self._conn)
        commands.pop(self._conn, None)
        log(f"connection closed: {exc!r}")

    def begin_auth(self, username):
        # Keys are only ever authorised for the one login user; others can never authenticate.
        if username == self._username:
            self._conn.set_authorized_keys(self._authorized_keys)
        return True

    def session_requested(self):
        # Our own process class (instead of create_server's process_factory) so that "signal"
        # requests reach the command at once; SFTP stays asyncssh's SFTPServer.
        return CommandProcess(handle_process, asyncssh.SFTPServer, asyncssh.sftp.MIN_SFTP_VERSION, False)

    def password_auth_supported(self):
        return False

    def kbdint_auth_supported(self):
        return False


class CommandProcess(asyncssh.SSHServerProcess):
    """Delivers "signal" requests at once instead of queueing them on stdin, as sshd does."""

    on_signal = None

    def signal_received(self, signame):
        if self.on_signal:
            self.on_signal(signame)


async def pump(reader, write, child, fd):
    """Copies one of the command's output pipes to the channel until EOF."""
    while True:
        data = await reader.read(65536)
        if not data:
            return
        try:
            write(data)
        except (OSError, asyncssh.Error):
            # The client closed the channel. Close our end too, so that the command's next write
            # gets SIGPIPE, as under sshd; the command itself is not killed.
            pipe = child._transport.get_pipe_transport(fd)
            if pipe:
                pipe.close()
            return


async def run_command(process):
    conn = process.channel.get_connection()
    env = dict(os.environ)
    env.update(process.env or {})
    env["SSH_CONNECTION"] = " ".join(
        str(part) for part in (*conn.get_extra_info("peername")[:2], *conn.get_extra_info("sockname")[:2])
    )
    if process.term_type:
        status = await run_pty_command(process, env)
        if process.channel.is_closing():
            return
        if status < 0:
            process.exit_with_signal(signal.Signals(-status).name[3:])
        else:
            process.exit(status)
        return
    child = await asyncio.create_subprocess_exec(
        SHELL[0],
        "-c",
        process.command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=os.path.expanduser("~"),
        env=env,
        start_new_session=True,
    )
    pids = commands.get(conn, set())
    pids.add(child.pid)

    def deliver(signame):
        number = getattr(signal, f"SIG{signame}", None)
        log(f"signal {signame} for pid {child.pid}")
        if number is not None:
            try:
                os.kill(child.pid, number)
            except ProcessLookupError:
                pass

    process.on_signal = deliver

    async def feed_stdin():
        try:
            while True:
                data = await process.stdin.read(65536)
                if not data:
                    break
                child.stdin.write(data)
                await child.stdin.drain()
        except (BrokenPipeError, ConnectionResetError, asyncssh.Error):
            pass
        finally:
            child.stdin.close()

    stdin_task = asyncio.ensure_future(feed_stdin())
    await asyncio.gather(
        pump(child.stdout, process.stdout.write, child, 1),
        pump(child.stderr, process.stderr.write, child, 2),
    )
    status = await child.wait()
    pids.discard(child.pid)
    stdin_task.cancel()
    if process.channel.is_closing():
        return  # nobody to tell
    if status < 0:
        # Killed by a signal: report it the way sshd does (exit-signal).
        process.exit_with_signal(signal.Signals(-status).name[3:])
    else:
        process.exit(status)


def set_size(fd, width, height):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def run_pty_command(process, env):
    """Runs the command on a pty: one output stream, stdin and window changes into the master."""
    master, slave = os.openpty()
    width, height = process.term_size[:2]
    set_size(slave, width or 80, height or 24)
    env["TERM"] = process.term_type
    child = await asyncio.create_subprocess_exec(
        SHELL[0],
        "-c",
        process.command,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=os.path.expanduser("~"),
        env=env,
        start_new_session=True,
        # After setsid: the pty becomes the session's controlling terminal, as under sshd.
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    conn = process.channel.get_connection()
    commands.get(conn, set()).add(child.pid)
    loop = asyncio.get_running_loop()
    output_done = loop.create_future()

    def on_output():
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b""  # EIO: every holder of the slave side has closed it
        if data:
            try:
                process.stdout.write(data)
                return
            except (OSError, asyncssh.Error):
                pass
        loop.remove_reader(master)
        if not output_done.done():
            output_done.set_result(None)

    loop.add_reader(master, on_output)

    async def feed_stdin():
        while True:
            try:
                data = await process.stdin.read(65536)
            except asyncssh.TerminalSizeChanged as change:
                set_size(master, change.width, change.height)
                continue
            except (asyncssh.Error, OSError):
                return
            if not data:
                return
            os.write(master, data)

    stdin_task = asyncio.ensure_future(feed_stdin())
    status = await child.wait()
    commands.get(conn, set()).discard(child.pid)
    # What the command printed before it exited is still in the pty; a background job holding
    # the slave keeps it open, so drain only what is there now.
    await asyncio.sleep(0)
    while not output_done.done():
        try:
            data = os.read(master, 65536) if select.select([master], [], [], 0)[0] else b""
        except OSError:
            data = b""
        if not data:
            break
        process.stdout.write(data)
    loop.remove_reader(master)
    os.close(master)
    stdin_task.cancel()
    return status


async def handle_process(process):
    if process.command is None:
        # No shells: core only ever sends "exec" and "subsystem".
        process.stderr.write("this test server only runs commands\n")
        process.exit(1)
        return
    try:
        await run_command(process)
    except (asyncssh.Error, OSError) as error:
        log(f"command failed: {error!r}")
        process.exit(255)


def signal_groups(conn, number):
    for pid in list(commands.get(conn, ())):
        try:
            os.killpg(pid, number)
        except ProcessLookupError:
            pass


def drop_all():
    log(f"fault: dropping {len(connections)} connections")
    for conn in list(connections):
        signal_groups(conn, signal.SIGKILL)
        conn.abort()


def freeze_all():
    log(f"fault: freezing {len(connections)} connections")
    for conn in list(connections):
        signal_groups(conn, signal.SIGSTOP)
        # Stop reading: requests pile up unanswered, like a SIGSTOPped sshd.
        conn._transport.pause_reading()  # asyncssh has no public hook for this


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host-key", required=True)
    parser.add_argument("--authorized-keys", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--shell", default="/bin/sh")
    # Comma-separated; also what EXT_INFO's server-sig-algs lists, so a client's choice of RSA
    # signature (rsa-sha2-256/512, ssh-rsa) can be steered by a test.
    parser.add_argument("--signature-algs")
    args = parser.parse_args()
    SHELL[0] = args.shell

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, drop_all)
    loop.add_signal_handler(signal.SIGUSR2, freeze_all)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)

    server = await asyncssh.create_server(
        lambda: Server(args.username, args.authorized_keys),
        "127.0.0.1",
        0,
        server_host_keys=[args.host_key],
        encoding=None,  # bytes in, bytes out: the server never decodes command output
        line_editor=False,  # a pty's line discipline is the kernel's, as under sshd
        **({"signature_algs": args.signature_algs.split(",")} if args.signature_algs else {}),
    )
    port = server.sockets[0].getsockname()[1]
    print(f"LISTENING {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except RuntimeError:
        pass  # loop.stop() on SIGTERM
