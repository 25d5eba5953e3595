#!/usr/bin/python3
"""Fault scenarios through the real PC/SC stack (CONTRACT C1, C4, C5, C6, C7, C9, C10).

    tests/pcsc/faults/faults.py SCENARIO        (one ctest each: pcsc.fault.SCENARIO)

jpki-pkcs11.so is driven with PyKCS11 (Debian python3-pykcs11) and, where a call must block in
another thread, through ctypes on the same loaded module (PyKCS11 keeps the GIL during a call;
ctypes releases it). "Another program" is tests/pcsc/pcsc-fixture (hold-exclusive,
hold-transaction, reset), a separate process. The card, pcscd and their faults come from
with-vcard.sh and its control command (WITH_VCARD_CTL); this script re-runs itself inside it
with the card options the scenario needs, a --state and a --trace file per card.

Every scenario also asserts that no PIN try was spent: the card's --state file keeps its retry
counters at the maximum (3 auth, 5 sign), and its --trace shows no VERIFY carrying a PIN that the
card refused. It ends with one line for the figures of docs/reliability.md:
    faults: injected=N survived=N pin_tries_lost=N
and exits 0 only when every check passed.
"""

import ctypes
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import PyKCS11
from PyKCS11 import LowLevel
from PyKCS11.LowLevel import (CKR_OK, CKR_DEVICE_REMOVED, CKR_SESSION_HANDLE_INVALID,
                              CKR_TOKEN_NOT_PRESENT, CKR_USER_NOT_LOGGED_IN,
                              CKR_FUNCTION_FAILED, CKR_GENERAL_ERROR,
                              CKR_CRYPTOKI_NOT_INITIALIZED, CKR_NO_EVENT, CKF_DONT_BLOCK)

HERE = os.path.dirname(os.path.abspath(__file__))
PCSC_DIR = os.path.dirname(HERE)
PKI = os.path.join(PCSC_DIR, '..', 'pki')
BUILD = os.environ.get('JPKI_BUILD_DIR', os.path.join(PCSC_DIR, '..', '..', 'build'))
MODULE = os.environ.get('JPKI_MODULE', os.path.join(BUILD, 'jpki-pkcs11.so'))
FIXTURE = os.environ.get('PCSC_FIXTURE', os.path.join(BUILD, 'tests', 'pcsc', 'pcsc-fixture'))
WITH_VCARD = os.path.join(PCSC_DIR, 'with-vcard.sh')

AUTH_SLOT, SIGN_SLOT = 0, 1
PINS = {0: '1234', 1: 'ABC123', 2: '1234', 3: 'ABC123'}
KEY_IDS = {0: (0x01,), 1: (0x02,), 2: (0x01,), 3: (0x02,)}
MAX_TRIES = {'auth_tries': 3, 'sign_tries': 5}
DATA = b'jpki-pkcs11 fault test\n'
MECH = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None)
POLL = 15.0  # seconds: every wait for a state change is a bounded poll this long

# ---- results ----------------------------------------------------------------------------------

failures = []
counts = {'injected': 0, 'survived': 0, 'pin_tries_lost': 0}


def check(condition, what):
    if condition:
        print('  ok: ' + what, flush=True)
    else:
        print('  FAIL: ' + what, flush=True)
        failures.append(what)
    return condition


class Fault:
    """One injected fault: survived when no check failed between start and end."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        counts['injected'] += 1
        self.before = len(failures)
        print('fault: ' + self.what, flush=True)
        return self

    def __exit__(self, kind, value, tb):
        if kind is not None:
            failures.append('%s: %s: %s' % (self.what, kind.__name__, value))
            print('  FAIL: %s raised %s: %s' % (self.what, kind.__name__, value), flush=True)
        elif len(failures) == self.before:
            counts['survived'] += 1
        return kind is not None and issubclass(kind, Exception)


def ckr_name(rv):
    return PyKCS11.CKR.get(rv, hex(rv)) if rv is not None else 'no answer'


def rv_of(call, *args):
    """CKR_OK or the CKR_* value a PyKCS11 call raised."""
    try:
        call(*args)
        return CKR_OK
    except PyKCS11.PyKCS11Error as e:
        return e.value


def poll(condition, seconds=POLL, step=0.1):
    deadline = time.monotonic() + seconds
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


# ---- the fixture --------------------------------------------------------------------------------

def ctl(*args):
    subprocess.run([os.environ['WITH_VCARD_CTL'], *args], check=True, timeout=90)


def reader(card=1):
    return os.environ['JPKI_VCARD_READER' if card == 1 else 'JPKI_VCARD_READER2']


class OtherProgram:
    """pcsc-fixture hold-exclusive|hold-transaction READER SECONDS: returns once it holds."""

    def __init__(self, mode, reader_name, seconds):
        self.proc = subprocess.Popen([FIXTURE, mode, reader_name, str(seconds)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith('holding'):
            self.proc.wait(timeout=10)
            raise AssertionError('%s did not get the card (%r)' % (mode, line))

    def release(self):
        """SIGTERM: it lets go of the card and prints "released"."""
        if self.proc.poll() is None:
            self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return 'released' in out


def other_program_resets(reader_name):
    subprocess.run([FIXTURE, 'reset', reader_name], check=True, timeout=30,
                   stdout=subprocess.DEVNULL)


def state_file(card):
    return os.path.join(os.environ['FAULTS_DIR'], 'state%d' % card)


def trace_file(card):
    return os.path.join(os.environ['FAULTS_DIR'], 'trace%d' % card)


def trace_lines(card=1):
    try:
        with open(trace_file(card)) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def pin_verify(line):
    """A VERIFY carrying a PIN (the trace shows its bytes as **): (True, SW) or (False, None)."""
    fields = line.split()
    if len(fields) != 2 or not fields[0].startswith('00200080') or len(fields[0]) <= 10:
        return False, None
    return True, fields[1]


def check_no_pin_try_lost(cards=(1,)):
    lost = 0
    for card in cards:
        counters = dict(MAX_TRIES)
        try:
            with open(state_file(card)) as f:  # written on every counter change
                for line in f:
                    key, _, value = line.strip().partition('=')
                    if key in counters:
                        counters[key] = int(value)
        except FileNotFoundError:
            pass  # never written: no counter ever changed
        for key, full in MAX_TRIES.items():
            lost += full - counters[key]
            check(counters[key] == full, 'card %d: %s=%d (no try spent)' % (card, key, counters[key]))
        refused = [line for line in trace_lines(card) if pin_verify(line)[0] and pin_verify(line)[1] != '9000']
        check(not refused, 'card %d: no VERIFY with a PIN refused by the card (%s)' % (card, refused))
        lost = max(lost, len(refused))
    counts['pin_tries_lost'] += lost


# ---- the module -------------------------------------------------------------------------------

def load():
    lib = PyKCS11.PyKCS11Lib()
    lib.load(MODULE)
    return lib


class CK_TOKEN_INFO_RAW(ctypes.Structure):
    _fields_ = [('bytes', ctypes.c_ubyte * 512)]  # larger than CK_TOKEN_INFO; contents unused


def raw_module():
    """The same loaded module through ctypes (dlopen returns the copy PyKCS11 loaded)."""
    raw = ctypes.CDLL(MODULE)
    raw.C_WaitForSlotEvent.argtypes = [ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p]
    raw.C_WaitForSlotEvent.restype = ctypes.c_ulong
    raw.C_Finalize.argtypes = [ctypes.c_void_p]
    raw.C_Finalize.restype = ctypes.c_ulong
    raw.C_GetTokenInfo.argtypes = [ctypes.c_ulong, ctypes.POINTER(CK_TOKEN_INFO_RAW)]
    raw.C_GetTokenInfo.restype = ctypes.c_ulong
    return raw


def token_rv(raw, slot):
    info = CK_TOKEN_INFO_RAW()
    return raw.C_GetTokenInfo(slot, ctypes.byref(info))


class Waiter(threading.Thread):
    """A blocking C_WaitForSlotEvent in a thread of its own (GIL released by ctypes).

    until: 'first' stops after the first answer; 'present' loops until a returned slot's token
    is present (C7: removal events may come first); 'error' loops until an answer other than
    CKR_OK (events that happen meanwhile are no concern). Every answer is kept in self.answers."""

    def __init__(self, raw, until='first'):
        super().__init__(daemon=True)
        self.raw = raw
        self.until = until
        self.answers = []  # (rv, slot, time)
        self.started_waiting = threading.Event()

    def run(self):
        while True:
            slot = ctypes.c_ulong(999)
            self.started_waiting.set()
            rv = self.raw.C_WaitForSlotEvent(0, ctypes.byref(slot), None)
            self.answers.append((rv, slot.value, time.monotonic()))
            if rv != CKR_OK or self.until == 'first':
                return
            if self.until == 'present' and token_rv(self.raw, slot.value) == CKR_OK:
                return


def session(lib, slot, login=True):
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    if login:
        s.login(PINS[slot])
    return s


def private_key(s, slot):
    keys = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, KEY_IDS[slot])])
    if len(keys) != 1:
        raise AssertionError('slot %d: %d private keys with id %s' % (slot, len(keys), KEY_IDS[slot]))
    return keys[0]


def sign_init(s, key):
    rv = s.lib.C_SignInit(s.session, MECH.to_native(), key)
    if rv != CKR_OK:
        raise PyKCS11.PyKCS11Error(rv)


def sign_finish(s):
    """C_Sign (size query, then the signature) after sign_init: (rv, signature bytes)."""
    data = PyKCS11.ckbytelist(DATA)
    signature = PyKCS11.ckbytelist()
    rv = s.lib.C_Sign(s.session, data, signature)
    if rv == CKR_OK:
        rv = s.lib.C_Sign(s.session, data, signature)
    return rv, bytes(signature)


def verifies(signature, cert_der):
    """openssl: does `signature` verify over DATA with the certificate's key (SHA-256)?"""
    with tempfile.TemporaryDirectory() as d:
        pub, sig, data = (os.path.join(d, n) for n in ('pub', 'sig', 'data'))
        subprocess.run(['openssl', 'x509', '-inform', 'DER', '-in', cert_der, '-pubkey', '-noout',
                        '-out', pub], check=True)
        with open(sig, 'wb') as f:
            f.write(signature)
        with open(data, 'wb') as f:
            f.write(DATA)
        return subprocess.run(['openssl', 'dgst', '-sha256', '-verify', pub, '-signature', sig, data],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def cert_path(slot):
    name = 'auth-cert.der' if slot in (0, 2) else 'sign-cert.der'
    return os.path.join(PKI, 'card2' if slot >= 2 else '', name)


def check_fresh_login_signs(lib, slot, what):
    """A new session + login + sign works, and the signature verifies with the card's cert."""
    s = session(lib, slot)
    key = private_key(s, slot)
    sign_init(s, key)
    rv, signature = sign_finish(s)
    check(rv == CKR_OK and verifies(signature, cert_path(slot)),
          '%s: new session + login + sign on slot %d works (%s)' % (what, slot, ckr_name(rv)))
    s.closeSession()


def token_present(lib, slot):
    return rv_of(lib.getTokenInfo, slot) == CKR_OK


def check_card_gone(lib, sessions, what):
    """C5/C7: the card's sessions are closed, its tokens absent."""
    for s in sessions:
        rv = rv_of(s.getSessionInfo)
        check(rv == CKR_SESSION_HANDLE_INVALID,
              '%s: session closed (C_GetSessionInfo: %s)' % (what, ckr_name(rv)))
    for slot in (AUTH_SLOT, SIGN_SLOT):
        rv = rv_of(lib.getTokenInfo, slot)
        check(rv == CKR_TOKEN_NOT_PRESENT, '%s: C_GetTokenInfo(%d): %s' % (what, slot, ckr_name(rv)))
    present = lib.getSlotList(tokenPresent=True)
    check(AUTH_SLOT not in present and SIGN_SLOT not in present,
          '%s: C_GetSlotList(TRUE) omits the card (%s)' % (what, list(present)))


# ---- scenarios ----------------------------------------------------------------------------------

def removed_mid_sign():
    """C5: the card leaves the reader while it computes the signature (--sign-latency-ms)."""
    lib = load()
    s = session(lib, AUTH_SLOT)
    other = session(lib, SIGN_SLOT, login=False)  # another session of the same card
    key = private_key(s, AUTH_SLOT)
    with Fault('card removed in the middle of C_Sign'):
        sign_init(s, key)
        # The card takes 4 s per signature: the removal lands 1 s into it.
        remover = subprocess.Popen(['bash', '-c', 'sleep 1; exec "$WITH_VCARD_CTL" remove'])
        rv, _ = sign_finish(s)
        check(remover.wait(timeout=60) == 0, 'the card was removed')
        check(rv == CKR_DEVICE_REMOVED, 'C_Sign answers CKR_DEVICE_REMOVED (%s)' % ckr_name(rv))
        check_card_gone(lib, [s, other], 'after removal')
        ctl('insert')
        check(poll(lambda: token_present(lib, AUTH_SLOT)), 'token present again after re-insertion')
        check_fresh_login_signs(lib, AUTH_SLOT, 'after re-insertion')
    check_no_pin_try_lost()


def removed_after_login():
    """C5: the card leaves the reader between C_Login (and C_SignInit) and C_Sign."""
    lib = load()
    s = session(lib, SIGN_SLOT)
    other = session(lib, AUTH_SLOT, login=False)
    key = private_key(s, SIGN_SLOT)
    with Fault('card removed between C_Login and C_Sign'):
        sign_init(s, key)
        ctl('remove')
        rv, _ = sign_finish(s)
        check(rv == CKR_DEVICE_REMOVED, 'C_Sign answers CKR_DEVICE_REMOVED (%s)' % ckr_name(rv))
        check_card_gone(lib, [s, other], 'after removal')
        # Issue 11: a blocked C_WaitForSlotEvent (one SCardGetStatusChange without timeout) is
        # woken by the insertion itself; the bound is generous, the figure is printed.
        raw = raw_module()
        for _ in range(10):
            slot = ctypes.c_ulong(0)
            if raw.C_WaitForSlotEvent(CKF_DONT_BLOCK, ctypes.byref(slot), None) != CKR_OK:
                break
        waiter = Waiter(raw)
        waiter.start()
        waiter.started_waiting.wait(5)
        time.sleep(0.5)  # let the wait block (not an assertion)
        ctl('insert')  # returns once pcscd shows the card
        inserted = time.monotonic()
        waiter.join(10)
        answers = [(ckr_name(rv), slot, round(t - inserted, 3)) for rv, slot, t in waiter.answers]
        check(not waiter.is_alive() and answers and answers[0][0] == 'CKR_OK' and answers[0][2] < 3,
              'a blocking C_WaitForSlotEvent reports the insertion within a few seconds: %s' % answers)
        print('insertion reported %.0f ms after pcscd showed the card' % (answers[0][2] * 1000 if answers else -1),
              flush=True)
        check(poll(lambda: token_present(lib, SIGN_SLOT)), 'token present again after re-insertion')
        check_fresh_login_signs(lib, SIGN_SLOT, 'after re-insertion')
    check_no_pin_try_lost()


def reset_after_login():
    """C6: another program resets the card between C_Login and C_Sign."""
    lib = load()
    s = session(lib, AUTH_SLOT)
    key = private_key(s, AUTH_SLOT)
    with Fault('card reset by another program between C_Login and C_Sign'):
        sign_init(s, key)
        other_program_resets(reader())
        rv, _ = sign_finish(s)
        check(rv == CKR_USER_NOT_LOGGED_IN, 'C_Sign answers CKR_USER_NOT_LOGGED_IN (%s)' % ckr_name(rv))
        trace = trace_lines()
        resets = [i for i, line in enumerate(trace) if line in ('# reset', '# power off')]
        after = [line for line in trace[resets[-1]:] if pin_verify(line)[0]] if resets else []
        check(bool(resets), 'the card saw the reset (trace)')
        check(not after, 'no VERIFY with a PIN after the reset (no silent re-login): %s' % after)
        rv = rv_of(s.getSessionInfo)
        check(rv == CKR_OK, 'the session stays open (%s)' % ckr_name(rv))
        rv = rv_of(s.login, PINS[AUTH_SLOT])
        check(rv == CKR_OK, 'C_Login again works (%s)' % ckr_name(rv))
        sign_init(s, key)
        rv, signature = sign_finish(s)
        check(rv == CKR_OK and verifies(signature, cert_path(AUTH_SLOT)),
              'then C_Sign works (%s)' % ckr_name(rv))
    check_no_pin_try_lost()


def busy_transaction():
    """C4: another program holds a card transaction for long (20 s)."""
    log = os.path.join(os.environ['FAULTS_DIR'], 'module.log')
    lib = load()
    s = session(lib, AUTH_SLOT)
    key = private_key(s, AUTH_SLOT)
    with Fault('another program holds the card in a transaction'):
        sign_init(s, key)
        holder = OtherProgram('hold-transaction', reader(), 20)
        start = time.monotonic()
        with StderrTo(log):
            rv, _ = sign_finish(s)
        waited = time.monotonic() - start
        still_held = holder.proc.poll() is None
        check(still_held, 'the other program still held its transaction when C_Sign returned')
        check(rv == CKR_FUNCTION_FAILED, 'C_Sign answers CKR_FUNCTION_FAILED (%s)' % ckr_name(rv))
        check(waited < 10, 'C_Sign waited %.1f s: at most 5 s plus slack' % waited)
        with open(log) as f:
            text = f.read()
        check(re.search(r'busy', text, re.IGNORECASE) is not None,
              'a log line says the card is busy in another program: %r' % text[-500:])
        # A second try while the card is still held is bounded too (and must not sign).
        start = time.monotonic()
        rv = rv_of(sign_init, s, key)
        if rv == CKR_OK:
            rv, _ = sign_finish(s)
        waited = time.monotonic() - start
        check(holder.proc.poll() is None and rv != CKR_OK and waited < 10,
              'a second C_Sign while still held answers within 5 s plus slack (%s after %.1f s)'
              % (ckr_name(rv), waited))
        check(holder.release(), 'the other program ended its transaction')
        # Works again; a first CKR_USER_NOT_LOGGED_IN is acceptable (log in again then).
        sign_init(s, key)
        rv, signature = sign_finish(s)
        if rv == CKR_USER_NOT_LOGGED_IN:
            print('  note: first C_Sign after the busy timeout: CKR_USER_NOT_LOGGED_IN; logging in again')
            check(rv_of(s.login, PINS[AUTH_SLOT]) == CKR_OK, 'C_Login again works')
            sign_init(s, key)
            rv, signature = sign_finish(s)
        check(rv == CKR_OK and verifies(signature, cert_path(AUTH_SLOT)),
              'after the other program let go, C_Sign works (%s)' % ckr_name(rv))
    check_no_pin_try_lost()


def attack_auth_key():
    """Another local program signs with the auth key and no VERIFY (tests/pcsc/security.py
    attack): '6982' when the card holds no verified PIN, '9000' when it signs for anyone."""
    out = subprocess.run([sys.executable, os.path.join(PCSC_DIR, 'security.py'), 'attack', 'auth'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60).stdout
    m = re.search(r'sw=(\w+)', out)
    return m.group(1) if m else 'none: ' + out.strip()[-200:]


def busy_logout():
    """C3 with C4: another program's transaction holds off the reset that ends a login. C_Logout
    says so (CKR_FUNCTION_FAILED), the module resets the card before its next use once the other
    program lets go, and C_Finalize answers CKR_FUNCTION_FAILED when it could not reset at all."""
    lib = load()
    s = session(lib, AUTH_SLOT)
    key = private_key(s, AUTH_SLOT)
    sign_init(s, key)
    rv, _ = sign_finish(s)
    check(rv == CKR_OK, 'logged in and signed (%s)' % ckr_name(rv))
    with Fault('another program\'s transaction during C_Logout'):
        holder = OtherProgram('hold-transaction', reader(), 20)
        start = time.monotonic()
        rv = rv_of(s.logout)
        waited = time.monotonic() - start
        check(rv == CKR_FUNCTION_FAILED and waited < 10,
              'C_Logout answers CKR_FUNCTION_FAILED within 5 s plus slack (%s after %.1f s)' % (ckr_name(rv), waited))
        check(holder.release(), 'the other program ended its transaction')
        rv = rv_of(lib.getTokenInfo, AUTH_SLOT)
        check(rv == CKR_OK, 'the next call works (%s) and resets the card first' % ckr_name(rv))
        sw = attack_auth_key()
        check(sw == '6982', 'then another program cannot sign without a PIN (sw=%s)' % sw)
    with Fault('another program\'s transaction through C_Finalize'):
        s = session(lib, AUTH_SLOT)
        key = private_key(s, AUTH_SLOT)
        sign_init(s, key)
        rv, _ = sign_finish(s)
        check(rv == CKR_OK, 'logged in and signed again (%s)' % ckr_name(rv))
        raw = raw_module()
        holder = OtherProgram('hold-transaction', reader(), 40)
        start = time.monotonic()
        rv = raw.C_Finalize(None)
        waited = time.monotonic() - start
        check(rv == CKR_FUNCTION_FAILED and waited < 10,
              'C_Finalize answers CKR_FUNCTION_FAILED, not CKR_OK, within 5 s plus slack (%s after %.1f s)'
              % (ckr_name(rv), waited))
        check(holder.release(), 'the other program ended its transaction')
    check_no_pin_try_lost()


def busy_first_look():
    """C4 at first look: another program holds a card transaction when the module first looks."""
    holder = OtherProgram('hold-transaction', reader(), 30)
    lib = load()
    with Fault('card in another program\'s transaction at first look'):
        for what, call in (('C_GetSlotList(TRUE)', lambda: lib.getSlotList(tokenPresent=True)),
                           ('C_GetTokenInfo', lambda: lib.getTokenInfo(AUTH_SLOT))):
            start = time.monotonic()
            rv = rv_of(call)
            waited = time.monotonic() - start
            check(holder.proc.poll() is None and waited < 10,
                  'while held: %s answers within 5 s plus slack (%s after %.1f s)' % (what, ckr_name(rv), waited))
        check(holder.release(), 'the other program ended its transaction')
        check(poll(lambda: token_present(lib, AUTH_SLOT)), 'then the token is present')
        check_fresh_login_signs(lib, AUTH_SLOT, 'after the other program let go')
    check_no_pin_try_lost()


class StderrTo:
    """Sends file descriptor 2 (where the module logs) to a file for a while."""

    def __init__(self, path, mode='w'):
        self.path, self.mode = path, mode

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        with open(self.path, self.mode) as f:
            os.dup2(f.fileno(), 2)

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        return False


def pcscd_restart():
    """C7: pcscd killed and started again while the module stays loaded, with a blocking
    C_WaitForSlotEvent running across it; then C_Finalize wakes a blocked wait."""
    lib = load()
    raw = raw_module()
    check_fresh_login_signs(lib, AUTH_SLOT, 'before the outage')
    s = session(lib, AUTH_SLOT)
    known = list(lib.getSlotList(tokenPresent=False))
    with Fault('pcscd killed and restarted'):
        waiter = Waiter(raw, until='present')
        waiter.start()
        waiter.started_waiting.wait(5)
        time.sleep(0.5)  # let the wait block (not an assertion)
        ctl('kill-pcscd')
        all_slots = list(lib.getSlotList(tokenPresent=False))
        check(set(known) <= set(all_slots),
              'during the outage C_GetSlotList(FALSE) still lists %s (%s)' % (known, all_slots))
        check(poll(lambda: list(lib.getSlotList(tokenPresent=True)) == [], 5),
              'during the outage C_GetSlotList(TRUE) lists none')
        rv = rv_of(lib.getTokenInfo, AUTH_SLOT)
        check(rv == CKR_TOKEN_NOT_PRESENT, 'during the outage C_GetTokenInfo: %s' % ckr_name(rv))
        rv = rv_of(s.findObjects, [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
        check(rv in (CKR_DEVICE_REMOVED, CKR_SESSION_HANDLE_INVALID),
              'the old session is gone (%s)' % ckr_name(rv))
        ctl('start-pcscd')
        check(poll(lambda: token_present(lib, AUTH_SLOT)), 'token present again after pcscd is back')
        waiter.join(POLL)
        answers = [(ckr_name(rv), slot) for rv, slot, _ in waiter.answers]
        check(not waiter.is_alive() and waiter.answers and waiter.answers[-1][0] == CKR_OK,
              'the blocking C_WaitForSlotEvent returned CKR_OK with a slot once the token was back: %s'
              % answers)
        check(all(rv != CKR_GENERAL_ERROR for rv, _, _ in waiter.answers),
              'C_WaitForSlotEvent never answered CKR_GENERAL_ERROR')
        check_fresh_login_signs(lib, AUTH_SLOT, 'after pcscd is back')
    with Fault('C_Finalize while another thread waits for a slot event'):
        waiter = Waiter(raw, until='error')
        waiter.start()
        waiter.started_waiting.wait(5)
        time.sleep(1)  # let the wait block (not an assertion)
        check(waiter.is_alive(), 'the wait blocks (answers so far: %s)'
              % [(ckr_name(rv), slot) for rv, slot, _ in waiter.answers])
        finalized = time.monotonic()
        rv = raw.C_Finalize(None)
        check(rv == CKR_OK, 'C_Finalize: %s' % ckr_name(rv))
        waiter.join(5)
        check(not waiter.is_alive() and waiter.answers
              and waiter.answers[-1][0] == CKR_CRYPTOKI_NOT_INITIALIZED
              and waiter.answers[-1][2] - finalized < 3.5,
              'the blocked wait returned CKR_CRYPTOKI_NOT_INITIALIZED within ~3 s: %s'
              % [(ckr_name(rv), round(t - finalized, 2)) for rv, _, t in waiter.answers])
    check_no_pin_try_lost()


def exclusive_first_look():
    """C1: another program holds the card exclusively when the module first looks."""
    holder = OtherProgram('hold-exclusive', reader(), 30)
    lib = load()
    raw = raw_module()
    with Fault('card held exclusively by another program at first look'):
        present = list(lib.getSlotList(tokenPresent=True))
        check(AUTH_SLOT not in present and SIGN_SLOT not in present,
              'while held: C_GetSlotList(TRUE) omits the reader\'s slots (%s)' % present)
        rv = rv_of(lib.getTokenInfo, AUTH_SLOT)
        check(rv == CKR_TOKEN_NOT_PRESENT, 'while held: C_GetTokenInfo: %s' % ckr_name(rv))
        # Drain events already queued, then block before the release.
        for _ in range(10):
            slot = ctypes.c_ulong(0)
            if raw.C_WaitForSlotEvent(CKF_DONT_BLOCK, ctypes.byref(slot), None) != CKR_OK:
                break
        waiter = Waiter(raw)
        waiter.start()
        waiter.started_waiting.wait(5)
        time.sleep(0.5)  # let the wait block (not an assertion)
        check(not waiter.answers, 'while held: the blocking wait reports nothing (%s)'
              % [(ckr_name(rv), slot) for rv, slot, _ in waiter.answers])
        released = time.monotonic()
        check(holder.release(), 'the other program let go')
        waiter.join(6)
        answers = [(ckr_name(rv), slot, round(t - released, 2)) for rv, slot, t in waiter.answers]
        ok = (not waiter.is_alive() and waiter.answers and waiter.answers[0][0] == CKR_OK
              and waiter.answers[0][1] in (AUTH_SLOT, SIGN_SLOT) and waiter.answers[0][2] - released < 4)
        check(ok, 'the blocking C_WaitForSlotEvent started before the release returns a slot of '
                  'the reader within ~3 s: %s' % answers)
        seen = {slot for rv, slot, _ in waiter.answers if rv == CKR_OK}
        for _ in range(10):
            slot = ctypes.c_ulong(0)
            if raw.C_WaitForSlotEvent(CKF_DONT_BLOCK, ctypes.byref(slot), None) != CKR_OK:
                break
            seen.add(slot.value)
        check({AUTH_SLOT, SIGN_SLOT} <= seen, 'C_WaitForSlotEvent reports both slots (%s)' % sorted(seen))
        check(poll(lambda: {AUTH_SLOT, SIGN_SLOT} <= set(lib.getSlotList(tokenPresent=True)), 5),
              'after the release C_GetSlotList(TRUE) lists both slots')
        check(token_present(lib, AUTH_SLOT), 'after the release C_GetTokenInfo works')
        check_fresh_login_signs(lib, SIGN_SLOT, 'after the release')
    check_no_pin_try_lost()


def reinserted_between_calls():
    """The card is removed and inserted again between two calls, with no call in between."""
    lib = load()
    old = session(lib, AUTH_SLOT, login=False)
    old.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE)])  # the certificates are read
    with Fault('card removed and inserted again between two calls'):
        # pcscd shows a card before and after; only the reader's event counter moved on. The
        # module must not keep using the card it knew (new-user test: C_OpenSession answered
        # CKR_OK on the dead connection, then C_Login CKR_DEVICE_REMOVED).
        ctl('remove')
        ctl('insert')  # returns once pcscd shows the card
        s = session(lib, AUTH_SLOT, login=False)
        rv = rv_of(s.login, PINS[AUTH_SLOT])
        check(rv == CKR_OK, 'a session opened after the re-insertion logs in (%s)' % ckr_name(rv))
        rv = rv_of(old.getSessionInfo)
        check(rv == CKR_SESSION_HANDLE_INVALID,
              'the session opened before the removal is gone (C_GetSessionInfo: %s)' % ckr_name(rv))
        s.logout()
        s.closeSession()
        check_fresh_login_signs(lib, AUTH_SLOT, 'after re-insertion')
    check_no_pin_try_lost()


def second_reader():
    """C10: a second card in "Virtual PCD 00 01" gives slots 2 and 3, with that card's keys."""
    lib = load()
    with Fault('a second reader with a second card'):
        present = sorted(lib.getSlotList(tokenPresent=True))
        check(present == [0, 1, 2, 3], 'four slots with a token (%s)' % present)
        serials = {slot: lib.getTokenInfo(slot).serialNumber.strip() for slot in present}
        check(serials.get(0) == serials.get(1) and serials.get(2) == serials.get(3)
              and serials.get(0) != serials.get(2), 'slots 0/1 one card, 2/3 the other (%s)' % serials)
        for slot in (0, 1, 2, 3):
            s = session(lib, slot)
            key = private_key(s, slot)
            sign_init(s, key)
            rv, signature = sign_finish(s)
            other = cert_path(slot ^ 2)
            check(rv == CKR_OK and verifies(signature, cert_path(slot)) and not verifies(signature, other),
                  'slot %d signs with its own card\'s key (%s)' % (slot, ckr_name(rv)))
            certs = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE), (PyKCS11.CKA_ID, KEY_IDS[slot])])
            values = [bytes(s.getAttributeValue(c, [PyKCS11.CKA_VALUE])[0]) for c in certs]
            with open(cert_path(slot), 'rb') as f:
                check(values == [f.read()], 'slot %d shows its own card\'s certificate' % slot)
            s.closeSession()
    check_no_pin_try_lost(cards=(1, 2))


def count_c9_lines(text, words):
    lines = [line for line in text.splitlines()
             if re.match(r'jpki-pkcs11\[[0-9]+\] error: ', line) and all(w in line for w in words)]
    return lines


def say_why(condition_words, what):
    """C9: pkcs11-tool -L and a PyKCS11 process each print the line once, at the default level."""
    env = dict(os.environ)
    env.pop('JPKI_PKCS11_LOG', None)
    tool = subprocess.run(['pkcs11-tool', '--module', MODULE, '-L'], env=env, capture_output=True,
                          text=True, timeout=60)
    lines = count_c9_lines(tool.stderr, condition_words)
    check(len(lines) == 1, '%s: pkcs11-tool -L prints the line once on stderr: %s (stderr: %r)'
          % (what, lines, tool.stderr[-400:]))
    # PyKCS11 in a child process (a fresh module, default log level), several calls.
    script = ('import PyKCS11\n'
              'lib = PyKCS11.PyKCS11Lib(); lib.load(%r)\n'
              'for present in (False, True, False, True):\n'
              '    lib.getSlotList(tokenPresent=present)\n' % MODULE)
    py = subprocess.run([sys.executable, '-c', script], env=env, capture_output=True, text=True,
                        timeout=60)
    lines = count_c9_lines(py.stderr, condition_words)
    check(py.returncode == 0 and len(lines) == 1,
          '%s: a PyKCS11 process (4 x C_GetSlotList) prints it once: %s (stderr: %r)'
          % (what, lines, py.stderr[-400:]))


def no_pcscd():
    """C9: pcscd unreachable (PCSCLITE_CSOCK_NAME names a missing socket)."""
    os.environ['PCSCLITE_CSOCK_NAME'] = os.path.join(os.environ['FAULTS_DIR'], 'no-such-pcscd.comm')
    with Fault('no pcscd'):
        say_why(['pcscd', 'systemctl start pcscd'], 'no pcscd')


def no_reader():
    """C9: pcscd running with no reader at all."""
    ctl('restart-pcscd', '--no-reader')
    with Fault('pcscd without a reader'):
        say_why(['no smart card reader'], 'no reader')


SCENARIOS = {
    # name: (function, jpki-vcard options for card 1, second card?)
    'removed-mid-sign': (removed_mid_sign, ['--sign-latency-ms', '4000'], False),
    'removed-after-login': (removed_after_login, [], False),
    'reset-after-login': (reset_after_login, [], False),
    'busy-transaction': (busy_transaction, [], False),
    'busy-first-look': (busy_first_look, [], False),
    'busy-logout': (busy_logout, [], False),
    'pcscd-restart': (pcscd_restart, [], False),
    'exclusive-first-look': (exclusive_first_look, [], False),
    'second-reader': (second_reader, [], True),
    'reinserted-between-calls': (reinserted_between_calls, [], False),
    'no-pcscd': (no_pcscd, None, False),
    'no-reader': (no_reader, [], False),
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print('usage: faults.py ' + '|'.join(SCENARIOS), file=sys.stderr)
        return 2
    name = sys.argv[1]
    function, options, second = SCENARIOS[name]
    if 'FAULTS_DIR' not in os.environ:
        # Outside: make the scratch folder and run again inside with-vcard.sh (no-pcscd: no fixture).
        with tempfile.TemporaryDirectory(prefix='faults.') as d:
            env = dict(os.environ, FAULTS_DIR=d, JPKI_BUILD_DIR=BUILD)
            command = [sys.executable, os.path.abspath(__file__), name]
            if options is not None:
                card = ['--state', os.path.join(d, 'state1'), '--trace', os.path.join(d, 'trace1')]
                if second:
                    card += ['--second-card', '--pki-dir', os.path.join(PKI, 'card2'),
                             '--state', os.path.join(d, 'state2'), '--trace', os.path.join(d, 'trace2')]
                command = ['bash', WITH_VCARD, *options, *card, '--', *command]
            return subprocess.run(command, env=env).returncode
    print('scenario %s (%s)' % (name, function.__doc__.strip().splitlines()[0]), flush=True)
    try:
        function()
    except Exception as e:  # a broken step: counted, reported, never a hang or traceback-only end
        failures.append('%s: %s' % (type(e).__name__, e))
        print('  FAIL: %s: %s' % (type(e).__name__, e), flush=True)
    print('faults: injected=%d survived=%d pin_tries_lost=%d'
          % (counts['injected'], counts['survived'], counts['pin_tries_lost']), flush=True)
    if failures:
        print('%d check(s) failed in %s' % (len(failures), name), flush=True)
    sys.stdout.flush()
    # os._exit: a wait thread still blocked in the module must not keep the process alive.
    os._exit(1 if failures else 0)


if __name__ == '__main__':
    sys.exit(main())
