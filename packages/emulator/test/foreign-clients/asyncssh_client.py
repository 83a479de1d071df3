#!/usr/bin/python3
# An asyncssh client for the emulator's tests (src/foreign-clients.test.ts runs it with
# Debian's /usr/bin/python3 and python3-asyncssh). Like paramiko_client.py: it logs in, runs a
# command, works on files in the case directory the test prepared and prints what it saw as
# JSON. asyncssh takes bytes paths and returns bytes names for them, so this one also lists
# non-UTF-8 names (as hex, to survive JSON).
#
# Usage: asyncssh_client.py HOST PORT USER KEY_FILE CASE_DIR
import asyncio
import json
import os
import sys
import tempfile
import warnings

warnings.simplefilter("ignore")  # cryptography's deprecation notes about old ciphers
import asyncssh  # noqa: E402

host, port, user, key_file, case = sys.argv[1:6]


async def main():
    report = {}
    async with asyncssh.connect(
        host,
        port=int(port),
        username=user,
        client_keys=[key_file],
        known_hosts=None,  # the emulator's host key is fresh for every run
        agent_path=None,
        connect_timeout=20,
    ) as conn:
        result = await conn.run("echo out; echo err >&2; exit 3", check=False)
        report["exec"] = {"stdout": result.stdout, "stderr": result.stderr, "code": result.exit_status}

        async with conn.start_sftp_client() as sftp:
            payload = os.urandom(300_000)
            with tempfile.TemporaryDirectory() as local:
                source = os.path.join(local, "source.bin")
                back = os.path.join(local, "back.bin")
                with open(source, "wb") as file:
                    file.write(payload)
                await sftp.put(source, f"{case}/put.bin")
                await sftp.get(f"{case}/put.bin", back)
                with open(back, "rb") as file:
                    report["get_matches"] = file.read() == payload

            # asyncssh's symlink(oldpath, newpath): newpath becomes a link to oldpath.
            await sftp.symlink("put.bin", f"{case}/link")
            report["readlink"] = await sftp.readlink(f"{case}/link")
            await sftp.rename(f"{case}/put.bin", f"{case}/renamed.bin")
            await sftp.remove(f"{case}/renamed.bin")
            await sftp.remove(f"{case}/ly/../victim")

            broken = f"{case}/".encode() + b"f\xff\xfe.bin"
            async with sftp.open(broken, "wb") as remote:
                await remote.write(b"not UTF-8")
            names = await sftp.listdir(case.encode())
            report["listing_hex"] = sorted(name.hex() for name in names)
    print(json.dumps(report))


asyncio.run(main())
