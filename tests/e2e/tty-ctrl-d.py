#!/usr/bin/env python3
"""Runs COMMAND ARGS... on a pseudo-terminal, as a user at a terminal would, and answers each NSS
password prompt ('Enter Password or Pin for ...') with Ctrl-D, the documented way to skip it
(docs/nss-tools.md). Prints everything the command wrote to the terminal; exits with its status.
Why a terminal: NSS's tools ask for a token's password only when stdin is one."""
import os
import select
import sys

pid, fd = os.forkpty()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
answered = 0
while True:
    ready, _, _ = select.select([fd], [], [], 30)
    if not ready:
        break
    try:
        chunk = os.read(fd, 4096)
    except OSError:  # EIO: the command closed the terminal
        break
    if not chunk:
        break
    out += chunk
    if out.count(b"Enter Password or Pin") > answered:
        answered += 1
        os.write(fd, b"\x04")
sys.stdout.buffer.write(out)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
