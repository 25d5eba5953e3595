#!/usr/bin/python3
"""Threads against a slow card through the real PC/SC stack (issue 7, C2).

    threads.py run pkcs11-tool-slow-card

20 runs of
    pkcs11-tool --module jpki-pkcs11.so --test-threads IL:GI:SL:T0 --test-threads IN:SL:T0
                --test-threads IL:SL:T1 -L
against `jpki-vcard --apdu-latency-ms 200`, each run a new process (a fresh module load, so each
one probes the card while its threads call in). No call may report the reader as empty while
another thread probes its card (C2). pkcs11-tool exits 0 whatever its threads got, so each run's
output is read: every thread must end with rv = 0 and show its token, and the main listing must
show both tokens.

pkcs11-tool 0.23 sleeps 30 s when its main listing ends before its threads do, so the runs go
in 4 lanes at once, each lane with a card and pcscd of its own (with-vcard.sh) and 5 runs one
after the other: the runs of one card never overlap, as in a user's single run.
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("JPKI_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
MODULE = os.environ.get("JPKI_MODULE", os.path.join(BUILD, "jpki-pkcs11.so"))
PYTHON = "/usr/bin/python3"

AUTH_LABEL = "token label        : JPKI (User Authentication PIN)"
SIGN_LABEL = "token label        : JPKI (Digital Signature PIN)"
THREAD_OPTIONS = ["IL:GI:SL:T0", "IN:SL:T0", "IL:SL:T1"]
LANES, RUNS_PER_LANE = 4, 5
RUN_TIMEOUT_S = 150   # pkcs11-tool may sleep 30 s up to 4 times waiting for a stuck thread


def log(text):
    print(text, flush=True)


def pkcs11_tool_command():
    command = ["pkcs11-tool", "--module", MODULE]
    for options in THREAD_OPTIONS:
        command += ["--test-threads", options]
    return command + ["-L"]


def run_problems(returncode, out, err):
    """What is wrong with one run's output (pkcs11-tool 0.23), as a list of short texts."""
    problems = []
    if returncode != 0:
        problems.append("exit status %d" % returncode)
    for thread in range(len(THREAD_OPTIONS)):
        if "Test thread %d returning rv = 0\n" % thread not in err:
            ended = [line for line in err.splitlines() if line.startswith("Test thread %d returning" % thread)]
            problems.append("thread %d: %s" % (thread, ended[0] if ended else "never ended"))
    for line in err.splitlines() + out.splitlines():
        if "slot not available" in line or "failed" in line or "some errors" in line:
            problems.append(line.strip())
    # Threads 0 and 1 show slot index 0 (auth), thread 2 index 1 (sign); the main listing both.
    auth, sign = out.count(AUTH_LABEL), out.count(SIGN_LABEL)
    if (auth, sign) != (3, 2):
        problems.append("token shown %d times for auth (expected 3), %d for sign (expected 2)" % (auth, sign))
    if "all threads have ended with CKR_OK" not in err:
        problems.append("pkcs11-tool did not see all threads end with CKR_OK")
    return problems


def cmd_lane(runs, out_dir):
    """Inside with-vcard.sh: `runs` pkcs11-tool runs, one after the other, on this card."""
    for run in range(runs):
        try:
            result = subprocess.run(pkcs11_tool_command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, timeout=RUN_TIMEOUT_S)
            returncode, out, err = result.returncode, result.stdout, result.stderr
        except subprocess.TimeoutExpired as e:
            returncode, out, err = -1, str(e.stdout or ""), str(e.stderr or "") + "\ntimed out"
        with open(os.path.join(out_dir, "run%d.txt" % run), "w") as f:
            f.write(out + "\n---- stderr ----\n" + err)
        problems = run_problems(returncode, out, err)
        log("run %s/%d: %s" % (os.path.basename(out_dir), run, "ok" if not problems else "FAIL: " + "; ".join(problems)))
    return 0


def cmd_run_pkcs11_tool():
    with tempfile.TemporaryDirectory() as work:
        lanes = []
        for lane in range(LANES):
            lane_dir = os.path.join(work, "lane%d" % lane)
            os.mkdir(lane_dir)
            lanes.append(subprocess.Popen(
                ["bash", os.path.join(HERE, "with-vcard.sh"), "--apdu-latency-ms", "200", "--",
                 PYTHON, __file__, "lane", str(RUNS_PER_LANE), lane_dir],
                stdout=subprocess.PIPE, text=True))
        lines = []
        for process in lanes:
            out, _ = process.communicate()
            lines += out.splitlines()
            if process.returncode != 0:
                lines.append("lane FAIL: with-vcard.sh exited %d" % process.returncode)
        for line in lines:
            log(line)
        runs = sum(1 for line in lines if line.startswith("run "))
        failed = sum(1 for line in lines if "FAIL" in line)
        first_failure = next((line for line in lines if line.startswith("run ") and "FAIL" in line), None)
        if first_failure:   # its whole output, for the log: "run laneL/R: FAIL: ..."
            lane, run = first_failure.split()[1].rstrip(":").split("/")
            log("==== output of the first failing run (%s/%s)" % (lane, run))
            with open(os.path.join(work, lane, "run%s.txt" % run)) as f:
                log(f.read())
    expected = LANES * RUNS_PER_LANE
    log("threads: runs=%d failed=%d" % (runs, failed))
    if runs != expected or failed:
        log("FAIL: pkcs11-tool-slow-card")
        return 1
    log("PASS: pkcs11-tool-slow-card")
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "run" and argv[2] == "pkcs11-tool-slow-card":
        if not os.access(MODULE, os.R_OK):
            log("FAIL: module not found at " + MODULE)
            return 1
        return cmd_run_pkcs11_tool()
    if len(argv) == 4 and argv[1] == "lane":
        return cmd_lane(int(argv[2]), argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
