#!/usr/bin/python3
# A paramiko client for the emulator's tests (src/foreign-clients.test.ts runs it with Debian's
# /usr/bin/python3 and python3-paramiko). It logs in, runs a command and works on files in
# one case directory the test prepared, then prints what it saw as one JSON object; the test
# checks that and the files on disk. Paths go over the wire as bytes where the test needs
# non-UTF-8 names (paramiko decodes listed names as UTF-8, so it cannot list them, on any
# server; the asyncssh client lists them).
#
# Usage: paramiko_client.py HOST PORT USER KEY_FILE CASE_DIR [DISABLED_PUBKEY_ALGORITHM...]
import json
import sys

import paramiko

host, port, user, key_file, case = sys.argv[1:6]
disabled = sys.argv[6:]

client = paramiko.SSHClient()
# The test pins nothing: the emulator's host key is fresh for every run.
client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
client.connect(
    host,
    int(port),
    username=user,
    key_filename=key_file,
    look_for_keys=False,
    allow_agent=False,
    disabled_algorithms={"pubkeys": disabled},
    timeout=20,
)
report = {}

_, stdout, stderr = client.exec_command("echo out; echo err >&2; exit 3", timeout=20)
report["exec"] = {
    "stdout": stdout.read().decode(),
    "stderr": stderr.read().decode(),
    "code": stdout.channel.recv_exit_status(),
}

sftp = client.open_sftp()
payload = bytes(range(256)) * 1000
with sftp.open(f"{case}/put.bin", "wb") as remote:
    remote.write(payload)
with sftp.open(f"{case}/put.bin", "rb") as remote:
    report["get_matches"] = remote.read() == payload
report["listing"] = sorted(sftp.listdir(case))

# paramiko's symlink(source, dest): dest becomes a link to source.
sftp.symlink("put.bin", f"{case}/link")
report["readlink"] = sftp.readlink(f"{case}/link")

sftp.rename(f"{case}/put.bin", f"{case}/renamed.bin")
sftp.remove(f"{case}/renamed.bin")
# The test made ly -> x/y: on the VM, ly/.. is x, so this removes x/victim, not ./victim.
sftp.remove(f"{case}/ly/../victim")

latin1 = f"{case}/".encode() + b"caf\xe9"
with sftp.open(latin1, "wb") as remote:
    remote.write(b"latin-1 name")
report["latin1_size"] = sftp.stat(latin1).st_size

sftp.close()
client.close()
print(json.dumps(report))
