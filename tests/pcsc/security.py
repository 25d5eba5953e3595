#!/usr/bin/python3
"""Security scenarios of jpki-pkcs11.so through the real PC/SC stack (issue 7, C3 and C8).

    security.py run CASE          runs CASE inside with-vcard.sh (private pcscd + virtual card)

CASE is one ctest test (pcsc.security.CASE, tests/pcsc/security.cmake):

  control-logged-in       while the module is logged in, another program signs with no VERIFY:
                          the card answers 9000 (documents why logout must reset the card)
  after-logout            after C_Logout,
  after-close-session     after C_CloseSession of the token's last session (a session of the
                          other token stays open),
  after-close-all         after C_CloseAllSessions,
  after-finalize          after C_Finalize (the process still alive),
  after-exit              after exit() without C_Finalize:
                          another program's SELECT AP + SELECT key EF + COMPUTE DIGITAL SIGNATURE
                          with no VERIFY must get 6982, and the module sends no PIN afterwards
  cost-other-programs     after one process's logout-reset, another program's PC/SC handle gets
                          SCARD_W_RESET_CARD once and works after SCardReconnect; a second
                          PKCS#11 process logged in to the other token gets CKR_USER_NOT_LOGGED_IN
                          on its next C_Sign and can log in and sign again
  pin-flags               another program spends a try of the auth PIN: the module's
                          C_GetTokenInfo shows CKF_USER_PIN_COUNT_LOW within 15 s (C8); a right
                          VERIFY restores the counter and the flag goes again

Every attack runs while a third PC/SC client keeps a connection to the card (pcscd powers an
unused card off, which would hide a card left logged in). The programs involved are separate
processes: the module runs in `security.py worker` (PyKCS11, commands on stdin), the attacker
is `security.py attack ROLE` and the third client `security.py hold` (pyscard, each its own
PC/SC context, SCARD_SHARE_SHARED).

Summary lines: `security: attacks_after_logout=N signatures_without_pin=M` (M must be 0) and
`pin-flags: apdus_per_10_polls=N` (the APDUs the module sends for 10 C_GetTokenInfo, one a second).

Uses Debian's /usr/bin/python3 with python3-pykcs11, python3-pyscard, python3-cryptography.
"""

import ctypes
import hashlib
import os
import re
import select
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PKI = os.path.join(HERE, "..", "pki")
BUILD = os.environ.get("JPKI_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
MODULE = os.environ.get("JPKI_MODULE", os.path.join(BUILD, "jpki-pkcs11.so"))
PYTHON = "/usr/bin/python3"

AUTH_PIN, SIGN_PIN = "1234", "ABC123"
ROLES = {
    # role: token label, PIN, key CKA_ID, key EF, PIN EF, certificate
    "auth": ("JPKI (User Authentication PIN)", AUTH_PIN, 0x01, "0017", "0018", "auth-cert.der"),
    "sign": ("JPKI (Digital Signature PIN)", SIGN_PIN, 0x02, "001A", "001B", "sign-cert.der"),
}
OTHER = {"auth": "sign", "sign": "auth"}

SELECT_JPKI_AP = "00A4040C0AD392F000260100000001"
SHA256_DIGESTINFO_PREFIX = "3031300D060960864801650304020105000420"
# A VERIFY that carries a PIN, as the card's trace shows it (PIN bytes as **).
TRACE_VERIFY_WITH_PIN = re.compile(r"^00200080[0-9A-F]{2}\*")

REPLY_TIMEOUT_S = 60


def log(text):
    print(text, flush=True)


def certificate(role):
    from cryptography import x509
    with open(os.path.join(PKI, ROLES[role][5]), "rb") as f:
        return x509.load_der_x509_certificate(f.read())


def signature_verifies(role, data, signature):
    """RSASSA-PKCS1-v1_5 with SHA-256 over data, checked with the role's certificate."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    try:
        certificate(role).public_key().verify(bytes(signature), data, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


# ---------------------------------------------------------------------------------------------
# PC/SC programs (pyscard, low level so that every SCARD_* code is seen as it is)

def scard():
    from smartcard import scard as s
    return s


def pcsc_connect():
    s = scard()
    rv, context = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
    if rv != s.SCARD_S_SUCCESS:
        raise RuntimeError("SCardEstablishContext: " + s.SCardGetErrorMessage(rv))
    reader = os.environ["JPKI_VCARD_READER"]
    rv, card, protocol = s.SCardConnect(context, reader, s.SCARD_SHARE_SHARED,
                                        s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1)
    if rv != s.SCARD_S_SUCCESS:
        raise RuntimeError("SCardConnect: " + s.SCardGetErrorMessage(rv))
    return context, card, protocol


def pcsc_release(context, card):
    s = scard()
    s.SCardDisconnect(card, s.SCARD_LEAVE_CARD)
    s.SCardReleaseContext(context)


def transmit(card, protocol, apdu_hex):
    """Returns (SCard result, status word as 4 hex digits or None, data bytes)."""
    s = scard()
    rv, response = s.SCardTransmit(card, protocol, list(bytes.fromhex(apdu_hex)))
    if rv != s.SCARD_S_SUCCESS or len(response) < 2:
        return rv, None, b""
    return rv, "%02X%02X" % (response[-2], response[-1]), bytes(response[:-2])


def cmd_hold():
    """The third client: keeps a connection to the card until its standard input closes."""
    context, card, _ = pcsc_connect()
    log("holding")
    sys.stdin.read()
    pcsc_release(context, card)
    return 0


def cmd_attack(role):
    """Another local program: signs with the role's key without any VERIFY. Prints sw=XXXX
    (and, for 9000, whether the signature verifies with the card's certificate)."""
    s = scard()
    key_ef = ROLES[role][3]
    data = os.urandom(64)
    digest_info = SHA256_DIGESTINFO_PREFIX + hashlib.sha256(data).hexdigest().upper()
    context, card, protocol = pcsc_connect()
    try:
        rv = s.SCardBeginTransaction(card)
        if rv != s.SCARD_S_SUCCESS:
            log("attack %s: SCardBeginTransaction: %s" % (role, s.SCardGetErrorMessage(rv)))
            return 2
        steps = [("SELECT JPKI AP", SELECT_JPKI_AP),
                 ("SELECT EF " + key_ef, "00A4020C02" + key_ef),
                 ("COMPUTE DIGITAL SIGNATURE", "802A0080%02X%s00" % (len(digest_info) // 2, digest_info))]
        for name, apdu in steps:
            rv, sw, response = transmit(card, protocol, apdu)
            if sw is None:
                log("attack %s: %s: SCardTransmit: %s" % (role, name, s.SCardGetErrorMessage(rv)))
                return 2
            if sw != "9000" or name.startswith("COMPUTE"):
                break
        s.SCardEndTransaction(card, s.SCARD_LEAVE_CARD)
    finally:
        pcsc_release(context, card)
    verified = ""
    if sw == "9000" and name.startswith("COMPUTE"):
        verified = " signature_verifies=%s" % ("yes" if signature_verifies(role, data, response) else "no")
    log("attack %s: %s -> sw=%s%s" % (role, name, sw, verified))
    return 0


def cmd_other_program():
    """A PC/SC application that shares the card: connects, then on each line of standard input
    sends SELECT JPKI AP; when that fails with SCARD_W_RESET_CARD it reconnects (as any PC/SC
    application must) and sends it again. Prints one line per attempt."""
    s = scard()
    context, card, protocol = pcsc_connect()
    rv, sw, _ = transmit(card, protocol, SELECT_JPKI_AP)
    log("connected sw=%s" % sw)
    for _ in sys.stdin:
        rv, sw, _ = transmit(card, protocol, SELECT_JPKI_AP)
        line = "first=%s" % ("SCARD_W_RESET_CARD" if rv == s.SCARD_W_RESET_CARD else
                             "sw=%s" % sw if sw else s.SCardGetErrorMessage(rv))
        if rv == s.SCARD_W_RESET_CARD:
            rv, protocol = s.SCardReconnect(card, s.SCARD_SHARE_SHARED,
                                            s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1, s.SCARD_LEAVE_CARD)
            line += " reconnect=%s" % ("ok" if rv == s.SCARD_S_SUCCESS else s.SCardGetErrorMessage(rv))
            rv, sw, _ = transmit(card, protocol, SELECT_JPKI_AP)
            line += " then=%s" % ("sw=%s" % sw if sw else s.SCardGetErrorMessage(rv))
        log(line)
    pcsc_release(context, card)
    return 0


def cmd_spend_try(pin):
    """Another program VERIFYs the auth PIN (EF 0018) with the given PIN; prints the status word."""
    context, card, protocol = pcsc_connect()
    try:
        sws = []
        for apdu in (SELECT_JPKI_AP, "00A4020C020018",
                     "00200080%02X%s" % (len(pin), pin.encode().hex().upper())):
            _, sw, _ = transmit(card, protocol, apdu)
            sws.append(sw)
        log("verify: " + " ".join(str(sw) for sw in sws))
    finally:
        pcsc_release(context, card)
    return 0


# ---------------------------------------------------------------------------------------------
# The PKCS#11 process: one line of command in, one line of answer out

def cmd_worker():
    import PyKCS11
    lib = PyKCS11.PyKCS11Lib()
    lib.load(MODULE)
    sessions = {"auth": [], "sign": []}

    def slot_of(role):
        for slot in lib.getSlotList(tokenPresent=True):
            if lib.getTokenInfo(slot).label.strip() == ROLES[role][0]:
                return slot
        raise RuntimeError("no token " + ROLES[role][0])

    def sign(role):
        session = sessions[role][0]
        keys = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                                    (PyKCS11.CKA_ID, (ROLES[role][2],))])
        if len(keys) != 1:
            return "no-key"
        data = os.urandom(100)
        signature = session.sign(keys[0], data, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS))
        return "ok" if signature_verifies(role, data, signature) else "bad-signature"

    log("ready")
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        command, role = words[0], (words[1] if len(words) > 1 else None)
        try:
            if command == "open":
                sessions[role].append(lib.openSession(slot_of(role), PyKCS11.CKF_SERIAL_SESSION))
                answer = "ok"
            elif command == "login":
                sessions[role][0].login(ROLES[role][1])
                answer = "ok"
            elif command == "sign":
                answer = sign(role)
            elif command == "logout":
                sessions[role][0].logout()
                answer = "ok"
            elif command == "close-sessions":   # C_CloseSession of each, the last one last
                while sessions[role]:
                    sessions[role].pop().closeSession()
                answer = "ok"
            elif command == "close-all":
                lib.closeAllSessions(slot_of(role))
                sessions[role].clear()
                answer = "ok"
            elif command == "flags":
                answer = "ok 0x%x" % lib.getTokenInfo(slot_of(role)).flags
            elif command == "finalize":
                rv = lib.lib.C_Finalize()
                answer = "ok" if rv == PyKCS11.CKR_OK else PyKCS11.CKR[rv]
            elif command == "exit":
                # exit() of the C library: atexit handlers and the module's static destructors
                # run, C_Finalize is never called (PyKCS11's own clean-up would call it).
                log("exiting")
                sys.stdout.flush()
                ctypes.CDLL(None).exit(0)
            elif command == "quit":
                break
            else:
                answer = "unknown-command"
        except PyKCS11.PyKCS11Error as e:
            answer = PyKCS11.CKR.get(e.value, str(e.value))
        log(answer)
    return 0


class Worker:
    """A PKCS#11 process (security.py worker) driven line by line."""

    def __init__(self, name):
        self.name = name
        self.process = subprocess.Popen([PYTHON, __file__, "worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)
        self.expect("ready")

    def read_line(self):
        ready, _, _ = select.select([self.process.stdout], [], [], REPLY_TIMEOUT_S)
        if not ready:
            raise RuntimeError("%s: no answer within %d s" % (self.name, REPLY_TIMEOUT_S))
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("%s: exited (status %s)" % (self.name, self.process.wait()))
        return line.strip()

    def expect(self, text):
        line = self.read_line()
        if line != text:
            raise RuntimeError("%s: expected '%s', got '%s'" % (self.name, text, line))

    def call(self, command, quiet=False):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self.read_line()
        if not quiet:
            log("  %s: %s -> %s" % (self.name, command, answer))
        return answer

    def must(self, command, answer="ok"):
        got = self.call(command)
        if got != answer:
            raise RuntimeError("%s: %s answered %s, expected %s" % (self.name, command, got, answer))

    def stop(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


class Holder:
    """The third PC/SC client that keeps the card connected (and so powered) throughout."""

    def __init__(self):
        self.process = subprocess.Popen([PYTHON, __file__, "hold"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "holding":
            raise RuntimeError("the third PC/SC client could not connect")

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def attack(role):
    out = subprocess.run([PYTHON, __file__, "attack", role], stdout=subprocess.PIPE, text=True,
                         timeout=REPLY_TIMEOUT_S).stdout.strip()
    log("  " + out)
    m = re.search(r"sw=(\w+)", out)
    return (m.group(1) if m else "none"), out


class Trace:
    """The virtual card's APDU trace (jpki-vcard --trace): one line per APDU or event."""

    def __init__(self, path):
        self.path = path

    def lines(self):
        with open(self.path) as f:
            return f.read().splitlines()

    def mark(self):
        return len(self.lines())

    def since(self, mark):
        return self.lines()[mark:]


# ---------------------------------------------------------------------------------------------
# Scenarios (run inside with-vcard.sh)

class Failures:
    def __init__(self):
        self.items = []

    def check(self, ok, text):
        if not ok:
            self.items.append(text)
            log("  FAIL: " + text)
        return ok


# How each case ends the module's login: commands for the worker after login + sign.
ENDINGS = {
    "after-logout": ["logout {role}"],
    "after-close-session": ["close-sessions {role}"],   # a session on the other token stays open
    "after-close-all": ["close-all {role}"],
    "after-finalize": ["finalize"],
    "after-exit": ["exit"],
}


def scenario_attack_after(case, trace, failures):
    attacks = signed = 0
    for role in ("auth", "sign"):
        log("%s, %s token:" % (case, role))
        mark = None
        worker = Worker("module")
        try:
            worker.must("open %s" % OTHER[role])    # a second token in use, not logged in
            worker.must("open %s" % role)
            worker.must("open %s" % role)           # two sessions: only the last close counts
            worker.must("login %s" % role)
            worker.must("sign %s" % role)
            for command in ENDINGS[case]:
                command = command.format(role=role)
                if command == "exit":
                    worker.process.stdin.write("exit\n")
                    worker.process.stdin.flush()
                    worker.expect("exiting")
                    status = worker.process.wait(timeout=30)
                    log("  module: exit -> process ended with status %d" % status)
                else:
                    worker.must(command)
            mark = trace.mark()
            sw, _ = attack(role)
            attacks += 1
            signed += sw == "9000"
            failures.check(sw == "6982", "%s %s: another program signed without a PIN (sw=%s, expected 6982)"
                           % (case, role, sw))
        finally:
            worker.stop()
        pins = [line for line in trace.since(mark) if TRACE_VERIFY_WITH_PIN.match(line)] if mark is not None else []
        failures.check(not pins, "%s %s: the module sent a PIN after the logout: %s" % (case, role, pins))
    log("security: attacks_after_logout=%d signatures_without_pin=%d" % (attacks, signed))


def scenario_control(trace, failures):
    for role in ("auth", "sign"):
        log("control-logged-in, %s token:" % role)
        worker = Worker("module")
        try:
            worker.must("open %s" % role)
            worker.must("login %s" % role)
            worker.must("sign %s" % role)
            sw, out = attack(role)
            failures.check(sw == "9000" and "signature_verifies=yes" in out,
                           "control %s: while the module is logged in the card should sign for anyone "
                           "(the attack is real); got %s" % (role, out))
            worker.must("sign %s" % role)
            worker.must("logout %s" % role)
        finally:
            worker.stop()
    log("security: control attacks_while_logged_in=2 (the card signs for any program while a PIN is verified)")


def scenario_cost(trace, failures):
    for role in ("auth", "sign"):
        other = OTHER[role]
        log("cost-other-programs, the module logs out of %s; a second process is logged in to %s:" % (role, other))
        first, second = Worker("module"), Worker("second")
        pcsc = subprocess.Popen([PYTHON, __file__, "other-program"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, bufsize=1)
        try:
            line = pcsc.stdout.readline().strip()
            log("  other program: " + line)
            second.must("open %s" % other)
            second.must("login %s" % other)
            second.must("sign %s" % other)
            first.must("open %s" % role)
            first.must("login %s" % role)
            first.must("sign %s" % role)
            first.must("logout %s" % role)
            mark = trace.mark()
            pcsc.stdin.write("go\n")
            pcsc.stdin.flush()
            line = pcsc.stdout.readline().strip()
            log("  other program: " + line)
            failures.check(line == "first=SCARD_W_RESET_CARD reconnect=ok then=sw=9000",
                           "cost %s: the other program's handle should see SCARD_W_RESET_CARD once, then work "
                           "after SCardReconnect; got '%s'" % (role, line))
            got = second.call("sign %s" % other)
            failures.check(got == "CKR_USER_NOT_LOGGED_IN",
                           "cost %s: the second process's C_Sign on %s after the reset should answer "
                           "CKR_USER_NOT_LOGGED_IN, got %s" % (role, other, got))
            pins = [line for line in trace.since(mark) if TRACE_VERIFY_WITH_PIN.match(line)]
            failures.check(not pins, "cost %s: a PIN was sent after the reset without C_Login: %s" % (role, pins))
            got = second.call("login %s" % other)
            failures.check(got == "ok", "cost %s: C_Login again on %s answered %s" % (role, other, got))
            got = second.call("sign %s" % other)
            failures.check(got == "ok", "cost %s: C_Sign after the new login on %s answered %s" % (role, other, got))
        finally:
            pcsc.stdin.close()
            pcsc.wait(timeout=30)
            first.stop()
            second.stop()


def token_flags(worker, role):
    answer = worker.call("flags %s" % role, quiet=True)
    if not answer.startswith("ok "):
        raise RuntimeError("C_GetTokenInfo answered " + answer)
    return int(answer.split()[1], 16)


def scenario_pin_flags(trace, state_path, failures):
    import PyKCS11
    count_low = PyKCS11.CKF_USER_PIN_COUNT_LOW
    worker = Worker("module")
    try:
        worker.must("open auth")
        failures.check(not token_flags(worker, "auth") & count_low, "CKF_USER_PIN_COUNT_LOW set before any wrong PIN")
        out = subprocess.run([PYTHON, __file__, "spend-try", "9999"], stdout=subprocess.PIPE, text=True,
                             timeout=REPLY_TIMEOUT_S).stdout.strip()
        log("  other program, wrong PIN: " + out)
        failures.check(out.endswith(" 63C2"), "the wrong VERIFY should answer 63C2, got: " + out)
        seen_after = None
        start = time.monotonic()
        while time.monotonic() - start < 15:
            if token_flags(worker, "auth") & count_low:
                seen_after = time.monotonic() - start
                break
            time.sleep(1)
        failures.check(seen_after is not None,
                       "CKF_USER_PIN_COUNT_LOW did not show within 15 s after another program spent a try")
        if seen_after is not None:
            log("pin-flags: count_low seen after %.1f s" % seen_after)

        # The cost of the re-reading: APDUs the module sends for 10 polls, one a second.
        mark = trace.mark()
        for _ in range(10):
            token_flags(worker, "auth")
            time.sleep(1)
        apdus = [line for line in trace.since(mark) if not line.startswith("#")]
        log("pin-flags: apdus_per_10_polls=%d" % len(apdus))

        # Self-contained: a right VERIFY restores the counter, and the flag goes again.
        out = subprocess.run([PYTHON, __file__, "spend-try", AUTH_PIN], stdout=subprocess.PIPE, text=True,
                             timeout=REPLY_TIMEOUT_S).stdout.strip()
        log("  other program, right PIN: " + out)
        failures.check(out.endswith(" 9000"), "the right VERIFY should answer 9000, got: " + out)
        with open(state_path) as f:
            state = f.read()
        failures.check("auth_tries=3" in state.split(), "auth PIN counter not restored: " + state.replace("\n", " "))
        cleared = False
        start = time.monotonic()
        while time.monotonic() - start < 15:
            if not token_flags(worker, "auth") & count_low:
                cleared = True
                break
            time.sleep(1)
        failures.check(cleared, "CKF_USER_PIN_COUNT_LOW still set 15 s after the counter was restored")
    finally:
        worker.stop()


def cmd_scenario(case):
    trace = Trace(os.environ["SECURITY_TRACE"])
    failures = Failures()
    holder = Holder()
    try:
        if case in ENDINGS:
            scenario_attack_after(case, trace, failures)
        elif case == "control-logged-in":
            scenario_control(trace, failures)
        elif case == "cost-other-programs":
            scenario_cost(trace, failures)
        elif case == "pin-flags":
            scenario_pin_flags(trace, os.environ["SECURITY_STATE"], failures)
        else:
            log("unknown case " + case)
            return 2
    except RuntimeError as e:
        failures.check(False, str(e))
    finally:
        holder.stop()
    if failures.items:
        log("FAIL: %s (%d failed assertion(s))" % (case, len(failures.items)))
        return 1
    log("PASS: " + case)
    return 0


def cmd_run(case):
    """Outer driver: the scenario inside with-vcard.sh, with the card's trace and state files."""
    if not os.access(MODULE, os.R_OK):
        log("FAIL: module not found at " + MODULE)
        return 1
    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, SECURITY_TRACE=os.path.join(work, "trace"), SECURITY_STATE=os.path.join(work, "state"))
        command = ["bash", os.path.join(HERE, "with-vcard.sh"), "--auth-pin", AUTH_PIN, "--sign-pin", SIGN_PIN,
                   "--trace", env["SECURITY_TRACE"], "--state", env["SECURITY_STATE"],
                   "--", PYTHON, __file__, "scenario", case]
        return subprocess.run(command, env=env).returncode


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    command, args = argv[1], argv[2:]
    commands = {
        "run": lambda: cmd_run(args[0]),
        "scenario": lambda: cmd_scenario(args[0]),
        "worker": cmd_worker,
        "hold": cmd_hold,
        "attack": lambda: cmd_attack(args[0]),
        "other-program": cmd_other_program,
        "spend-try": lambda: cmd_spend_try(args[0]),
    }
    if command not in commands:
        print(__doc__)
        return 2
    return commands[command]()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
