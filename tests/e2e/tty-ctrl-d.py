#!/usr/bin/env python3
"""Runs COMMAND ARGS... on a pseudo-terminal, as a user at a terminal would, and answers each NSS
password prompt ('Enter Password or Pin for ...') with Ctrl-D, the documented way to skip it
(docs/nss-tools.md). Prints everything the command wrote to the terminal; exits with its status.
Why a terminal: NSS's tools ask for a token's password only when stdin is one.

NSS turns echo off with tcsetattr(TCSAFLUSH) around the moment it prints the prompt, which
discards input that arrived first: a Ctrl-D sent right at the prompt can be lost and the tool then
waits for ever. So while the command stays silent after a prompt, Ctrl-D is sent again every half
second (a user would press it again); once it answers, the next prompt is counted anew."""
import os
import select
import sys

pid, fd = os.forkpty()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
answered = 0        # prompts seen and answered at least once
waiting = False     # a prompt answered, and the command silent since
resent = 0
deadline_slices = 60  # 30 s of silence in all ends the wait
while deadline_slices > 0:
    ready, _, _ = select.select([fd], [], [], 0.5)
    if not ready:
        deadline_slices -= 1
        if waiting and resent < 20:
            os.write(fd, b"\x04")
            resent += 1
        continue
    try:
        chunk = os.read(fd, 4096)
    except OSError:  # EIO: the command closed the terminal
        break
    if not chunk:
        break
    out += chunk
    # The terminal's own echo of our Ctrl-D ("^D", backspaces) is not the command answering.
    if chunk.replace(b"^D", b"").replace(b"\x08", b"").strip():
        waiting = False
    if out.count(b"Enter Password or Pin") > answered:
        answered = out.count(b"Enter Password or Pin")
        os.write(fd, b"\x04")
        waiting, resent = True, 0
sys.stdout.buffer.write(out)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
