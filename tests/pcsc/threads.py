#!/usr/bin/python3
"""Threads against a slow card through the real PC/SC stack (issue 7, C2).

    threads.py run pkcs11-tool-slow-card
    threads.py run stress

20 runs of
    pkcs11-tool --module jpki-pkcs11.so --test-threads IL:GI:SL:T0 --test-threads IN:SL:T0
                --test-threads IL:SL:T1 -L
against `jpki-vcard --apdu-latency-ms 200`, each run a new process (a fresh module load, so each
one probes the card while its threads call in). No call may report the reader as empty while
another thread probes its card (C2). pkcs11-tool exits 0 whatever its threads got, so each run's
output is read: every thread must end with rv = 0 and show its token, and the main listing must
show both tokens.

pkcs11-tool 0.23 sleeps 30 s when its main listing ends before its threads do, so the runs go
in 5 lanes at once, each lane with a card and pcscd of its own (with-vcard.sh) and 4 runs one
after the other: the runs of one card never overlap, as in a user's single run.

stress: one process; THREADS threads call C_GetSlotList(TRUE) at once while the fresh module
probes the card (each must see both tokens: C2 again, in one process and in under a second);
both tokens are logged in once, then THREADS threads do OPERATIONS mixed operations each (sign
on either token with CKM_SHA256_RSA_PKCS or CKM_RSA_PKCS over a DigestInfo, C_GetTokenInfo,
certificate read, C_GenerateRandom, C_GetSlotList(TRUE), C_GetSessionInfo), each on sessions of
its own, against a card with 20 ms per APDU. Every call must answer CKR_OK (C_GenerateRandom:
CKR_RANDOM_NO_RNG, the tokens have no RNG), every
signature must verify with the card's certificate, every certificate must be the card's, and the
card must see exactly the two VERIFYs of the two logins (no silent re-login).
The module is called through ctypes, which releases the GIL during each call, so the threads
really are inside the module at once (PyKCS11 1.5 holds the GIL for a whole call: threads using
it would enter the module one at a time).
"""

import ctypes
import hashlib
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("JPKI_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
MODULE = os.environ.get("JPKI_MODULE", os.path.join(BUILD, "jpki-pkcs11.so"))
PYTHON = "/usr/bin/python3"

THREAD_OPTIONS = ["IL:GI:SL:T0", "IN:SL:T0", "IL:SL:T1"]
LANES, RUNS_PER_LANE = 5, 4
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
    # Counted by the PIN lengths, not the labels: pkcs11-tool 0.23 prints text fields through one
    # static buffer shared by its threads, so a label now and then shows another field's text
    # (seen: the auth label printed as the serial number), which is pkcs11-tool's race, not ours.
    auth, sign = out.count("pin min/max        : 4/4"), out.count("pin min/max        : 6/16")
    if (auth, sign) != (3, 2):
        problems.append("token shown %d times for auth (expected 3), %d for sign (expected 2)" % (auth, sign))
    if "all threads have ended with CKR_OK" not in err:
        problems.append("pkcs11-tool did not see all threads end with CKR_OK")
    return problems


def cmd_lane(runs, out_dir):
    """Inside with-vcard.sh: `runs` pkcs11-tool runs, one after the other, on this card."""
    for run in range(runs):
        started = time.monotonic()
        try:
            result = subprocess.run(pkcs11_tool_command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, timeout=RUN_TIMEOUT_S)
            returncode, out, err = result.returncode, result.stdout, result.stderr
        except subprocess.TimeoutExpired as e:
            returncode, out, err = -1, str(e.stdout or ""), str(e.stderr or "") + "\ntimed out"
        with open(os.path.join(out_dir, "run%d.txt" % run), "w") as f:
            f.write(out + "\n---- stderr ----\n" + err)
        problems = run_problems(returncode, out, err)
        log("run %s/%d: %s (%.0f s)" % (os.path.basename(out_dir), run,
                                        "ok" if not problems else "FAIL: " + "; ".join(problems),
                                        time.monotonic() - started))
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


# ---------------------------------------------------------------------------------------------
# stress: threads inside the module at once

THREADS, OPERATIONS = 8, 40
COUNTS_LOCK = threading.Lock()
PKI = os.path.join(HERE, "..", "pki")
ROLES = {   # token label, PIN, key CKA_ID, certificate file
    "auth": ("JPKI (User Authentication PIN)", b"1234", 0x01, "auth-cert.der"),
    "sign": ("JPKI (Digital Signature PIN)", b"ABC123", 0x02, "sign-cert.der"),
}
SHA256_DIGESTINFO_PREFIX = bytes.fromhex("3031300D060960864801650304020105000420")
CKR_RANDOM_NO_RNG = 0x121
CKR_OK, CKF_OS_LOCKING_OK, CKF_SERIAL_SESSION, CKU_USER = 0, 0x2, 0x4, 1
CKO_CERTIFICATE, CKO_PRIVATE_KEY, CKA_CLASS, CKA_VALUE, CKA_ID = 1, 3, 0x0, 0x11, 0x102
CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS = 0x1, 0x40
CKS_RO_USER_FUNCTIONS, CKF_USER_PIN_INITIALIZED = 1, 0x8
ULONG = ctypes.c_ulong


class Attribute(ctypes.Structure):
    _fields_ = [("type", ULONG), ("pValue", ctypes.c_void_p), ("ulValueLen", ULONG)]


class Mechanism(ctypes.Structure):
    _fields_ = [("mechanism", ULONG), ("pParameter", ctypes.c_void_p), ("ulParameterLen", ULONG)]


class InitializeArgs(ctypes.Structure):
    _fields_ = [("CreateMutex", ctypes.c_void_p), ("DestroyMutex", ctypes.c_void_p),
                ("LockMutex", ctypes.c_void_p), ("UnlockMutex", ctypes.c_void_p),
                ("flags", ULONG), ("pReserved", ctypes.c_void_p)]


class SessionInfo(ctypes.Structure):
    _fields_ = [("slotID", ULONG), ("state", ULONG), ("flags", ULONG), ("ulDeviceError", ULONG)]


class Pkcs11Error(Exception):
    def __init__(self, function, rv):
        try:
            import PyKCS11
            name = PyKCS11.CKR.get(rv, hex(rv))
        except ImportError:
            name = hex(rv)
        super().__init__("%s: %s" % (function, name))
        self.rv = rv


class Module:
    """The few PKCS#11 calls the stress needs, on the module's exported C_* symbols."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)   # CDLL: the GIL is released during each call

    def __getattr__(self, name):
        function = getattr(self.lib, name)
        function.restype = ULONG

        def call(*args):
            rv = function(*args)
            if rv != CKR_OK:
                raise Pkcs11Error(name, rv)
        return call

    def token_info(self, slot):
        info = ctypes.create_string_buffer(256)   # CK_TOKEN_INFO is 208 bytes on LP64
        self.C_GetTokenInfo(ULONG(slot), info)
        label = info.raw[0:32].decode().rstrip()
        flags = ULONG.from_buffer_copy(info.raw[96:104]).value
        return label, flags

    def slot_list(self):
        count = ULONG(0)
        self.C_GetSlotList(ctypes.c_ubyte(1), None, ctypes.byref(count))
        slots = (ULONG * max(count.value, 1))()
        self.C_GetSlotList(ctypes.c_ubyte(1), slots, ctypes.byref(count))
        return list(slots[:count.value])

    def open_session(self, slot):
        session = ULONG(0)
        self.C_OpenSession(ULONG(slot), ULONG(CKF_SERIAL_SESSION), None, None, ctypes.byref(session))
        return session

    def find(self, session, object_class, key_id):
        klass, ident = ULONG(object_class), (ctypes.c_ubyte * 1)(key_id)
        template = (Attribute * 2)(Attribute(CKA_CLASS, ctypes.cast(ctypes.byref(klass), ctypes.c_void_p),
                                             ctypes.sizeof(klass)),
                                   Attribute(CKA_ID, ctypes.cast(ident, ctypes.c_void_p), 1))
        self.C_FindObjectsInit(session, template, ULONG(2))
        found, count = (ULONG * 4)(), ULONG(0)
        try:
            self.C_FindObjects(session, found, ULONG(4), ctypes.byref(count))
        finally:
            self.C_FindObjectsFinal(session)
        return list(found[:count.value])

    def value(self, session, handle):
        attribute = Attribute(CKA_VALUE, None, 0)
        self.C_GetAttributeValue(session, ULONG(handle), ctypes.byref(attribute), ULONG(1))
        buffer = ctypes.create_string_buffer(attribute.ulValueLen)
        attribute.pValue = ctypes.cast(buffer, ctypes.c_void_p)
        self.C_GetAttributeValue(session, ULONG(handle), ctypes.byref(attribute), ULONG(1))
        return buffer.raw[:attribute.ulValueLen]

    def sign(self, session, key, mechanism, data):
        self.C_SignInit(session, ctypes.byref(Mechanism(mechanism, None, 0)), ULONG(key))
        out, length = ctypes.create_string_buffer(512), ULONG(512)
        self.C_Sign(session, data, ULONG(len(data)), out, ctypes.byref(length))
        return out.raw[:length.value]


def signature_verifies(role, message, signature):
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    with open(os.path.join(PKI, ROLES[role][3]), "rb") as f:
        key = x509.load_der_x509_certificate(f.read()).public_key()
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def stress_thread(module, slots, number, counts, problems):
    rng = random.Random(number)
    operations = ["sign", "sign", "token-info", "certificate", "random", "slot-list", "session-info"]
    for _ in range(OPERATIONS):
        operation, role = rng.choice(operations), rng.choice(["auth", "sign"])
        try:
            session = module.open_session(slots[role])
            try:
                if operation == "sign":
                    keys = module.find(session, CKO_PRIVATE_KEY, ROLES[role][2])
                    if len(keys) != 1:
                        raise RuntimeError("%d private keys found on %s" % (len(keys), role))
                    message = os.urandom(rng.randint(1, 2000))
                    if rng.random() < 0.5:
                        signature = module.sign(session, keys[0], CKM_SHA256_RSA_PKCS, message)
                    else:
                        digest_info = SHA256_DIGESTINFO_PREFIX + hashlib.sha256(message).digest()
                        signature = module.sign(session, keys[0], CKM_RSA_PKCS, digest_info)
                    if not signature_verifies(role, message, signature):
                        raise RuntimeError("a %s signature does not verify" % role)
                elif operation == "token-info":
                    label, flags = module.token_info(slots[role])
                    if label != ROLES[role][0] or not flags & CKF_USER_PIN_INITIALIZED:
                        raise RuntimeError("token info of %s: '%s' flags 0x%x" % (role, label, flags))
                elif operation == "certificate":
                    certificates = module.find(session, CKO_CERTIFICATE, ROLES[role][2])
                    if len(certificates) != 1:
                        raise RuntimeError("%d certificates found on %s" % (len(certificates), role))
                    with open(os.path.join(PKI, ROLES[role][3]), "rb") as f:
                        if module.value(session, certificates[0]) != f.read():
                            raise RuntimeError("the %s certificate read differs from the card's" % role)
                elif operation == "random":
                    buffer = ctypes.create_string_buffer(32)
                    # No CKF_RNG (issue 11): CKR_RANDOM_NO_RNG, and nothing sent to the card.
                    try:
                        module.C_GenerateRandom(session, buffer, ULONG(32))
                        raise RuntimeError("C_GenerateRandom answered CKR_OK without an RNG")
                    except Pkcs11Error as error:
                        if error.rv != CKR_RANDOM_NO_RNG:
                            raise
                elif operation == "slot-list":
                    if sorted(module.slot_list()) != sorted(slots.values()):
                        raise RuntimeError("C_GetSlotList(TRUE) answered %s" % module.slot_list())
                elif operation == "session-info":
                    info = SessionInfo()
                    module.C_GetSessionInfo(session, ctypes.byref(info))
                    if info.state != CKS_RO_USER_FUNCTIONS or info.slotID != slots[role]:
                        raise RuntimeError("session info of %s: slot %d state %d" % (role, info.slotID, info.state))
            finally:
                module.C_CloseSession(session)
            with COUNTS_LOCK:
                counts[operation] = counts.get(operation, 0) + 1
        except (Pkcs11Error, RuntimeError) as e:
            problems.append("thread %d, %s on %s: %s" % (number, operation, role, e))


def cmd_stress():
    trace = os.environ["THREADS_TRACE"]
    module = Module(MODULE)
    module.C_Initialize(ctypes.byref(InitializeArgs(None, None, None, None, CKF_OS_LOCKING_OK, None)))
    problems, counts = [], {}
    try:
        # First, every thread asks for the slots with tokens at once while the fresh module
        # probes the card: none may find the reader empty (C2).
        first_lists = [None] * THREADS
        start = threading.Barrier(THREADS)

        def first_list(n):
            start.wait()
            try:
                first_lists[n] = len(module.slot_list())
            except Pkcs11Error as e:
                first_lists[n] = str(e)
        racers = [threading.Thread(target=first_list, args=(n,)) for n in range(THREADS)]
        for thread in racers:
            thread.start()
        for thread in racers:
            thread.join()
        if first_lists != [2] * THREADS:
            problems.append("C_GetSlotList(TRUE) during the first probe, per thread: %s" % first_lists)
        slots = {}
        for slot in module.slot_list():
            label = module.token_info(slot)[0]
            for role, (role_label, _, _, _) in ROLES.items():
                if label == role_label:
                    slots[role] = slot
        if len(slots) != 2:
            log("FAIL: stress: tokens found: %s" % slots)
            return 1
        # One session per token stays open and logged in throughout (login state is per token,
        # and closing a token's last session would end it).
        keep = {}
        for role in ROLES:
            keep[role] = module.open_session(slots[role])
            pin = ROLES[role][1]
            module.C_Login(keep[role], ULONG(CKU_USER), pin, ULONG(len(pin)))
        threads = [threading.Thread(target=stress_thread, args=(module, slots, n, counts, problems))
                   for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for role in ROLES:
            module.C_CloseSession(keep[role])
    finally:
        module.C_Finalize(None)
    with open(trace) as f:
        verifies = [line for line in f if re.match(r"^00200080[0-9A-F]{2}\*", line)]
    if len(verifies) != 2:
        problems.append("the card saw %d VERIFYs with a PIN, expected the 2 logins" % len(verifies))
    for problem in problems[:20]:
        log("  " + problem)
    done = sum(counts.values())
    log("threads: %d x %d operations (%s), %d done, %d problems"
        % (THREADS, OPERATIONS, ", ".join("%s %d" % item for item in sorted(counts.items())), done, len(problems)))
    if problems or done != THREADS * OPERATIONS:
        log("FAIL: stress")
        return 1
    log("PASS: stress")
    return 0


def cmd_run_stress():
    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, THREADS_TRACE=os.path.join(work, "trace"))
        return subprocess.run(["bash", os.path.join(HERE, "with-vcard.sh"), "--auth-pin", "1234",
                               "--sign-pin", "ABC123", "--apdu-latency-ms", "20", "--trace", env["THREADS_TRACE"],
                               "--", PYTHON, __file__, "stress"], env=env).returncode


def main(argv):
    if len(argv) >= 3 and argv[1] == "run" and argv[2] in ("pkcs11-tool-slow-card", "stress"):
        if not os.access(MODULE, os.R_OK):
            log("FAIL: module not found at " + MODULE)
            return 1
        return cmd_run_pkcs11_tool() if argv[2] == "pkcs11-tool-slow-card" else cmd_run_stress()
    if len(argv) == 2 and argv[1] == "stress":
        return cmd_stress()
    if len(argv) == 4 and argv[1] == "lane":
        return cmd_lane(int(argv[2]), argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
