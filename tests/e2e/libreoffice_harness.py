"""A private headless LibreOffice driven through UNO, for the LibreOffice test drivers.

Shared by libreoffice_sign.py (PDF export) and libreoffice_sign_odf.py (ODF document
signatures); run them with Debian's /usr/bin/python3, which has the `uno` module of python3-uno.

run(description, steps) parses the drivers' common arguments, starts soffice.bin with its own
user profile and MOZILLA_CERTIFICATE_FOLDER=sql:NSSDB (an NSS database where the module is
registered), connects, calls steps(args, ctx, result), terminates LibreOffice (killing it by
PID if it does not go, or when the whole run exceeds --timeout), and writes `result` as JSON to
RESULT. The exit status is 0 unless the harness itself failed (LibreOffice not starting, UNO
errors outside the steps); the calling test judges the steps' outcomes.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback

SOFFICE = os.environ.get("JPKI_SOFFICE_BIN", "/usr/lib/libreoffice/program/soffice.bin")
HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print(f"{os.path.basename(sys.argv[0])}: {msg}", file=sys.stderr, flush=True)


def run(description, steps):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--nssdb", required=True, help="NSS database folder (sql: format)")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--pin-file", required=True,
                    help="a file whose first line is what the user types at the PIN prompt")
    ap.add_argument("--cert-der", required=True, help="the signing certificate (names it)")
    ap.add_argument("--result", required=True)
    ap.add_argument("--timeout", type=float, default=150, help="seconds for the whole run")
    args = ap.parse_args()
    with open(args.pin_file, encoding="utf-8") as f:
        args.pin = f.readline().rstrip("\r\n")

    import uno  # noqa: F401  (python3-uno; imported here so --help works without it)

    result = {"steps": {}}

    # A watchdog: whatever hangs (soffice, a UNO call), soffice.bin is killed and we exit.
    def watchdog():
        if not done.wait(args.timeout):
            log(f"timeout after {args.timeout} s; killing soffice.bin")
            kill_soffice(proc_box)
            write_result(args.result, dict(result, timeout=True))
            os._exit(3)

    done = threading.Event()
    proc_box = []
    threading.Thread(target=watchdog, daemon=True).start()
    try:
        proc = start_soffice(args, proc_box)
        ctx = connect(args, proc)
        steps(args, ctx, result)
        result["soffice_exit"] = stop_soffice(ctx, proc)
    except Exception:
        result["harness_error"] = traceback.format_exc()
        log(result["harness_error"])
        kill_soffice(proc_box)
    finally:
        done.set()
    write_result(args.result, result)
    return 1 if "harness_error" in result else 0


def write_result(path, result):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)


def soffice_cmd(args, *extra):
    profile = "file://" + os.path.join(os.path.abspath(args.workdir), "profile")
    return [SOFFICE, "--headless", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
            "-env:UserInstallation=" + profile, *extra]


def soffice_env(args):
    env = dict(os.environ)
    env["MOZILLA_CERTIFICATE_FOLDER"] = "sql:" + os.path.abspath(args.nssdb)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def start_soffice(args, proc_box):
    # A fresh profile makes the first soffice.bin exit with 81 ("restart me", oosplash's job):
    # create it first with a run that ends right after initialisation.
    first = subprocess.run(soffice_cmd(args, "--terminate_after_init"), env=soffice_env(args),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90)
    if first.returncode not in (0, 81):
        raise RuntimeError(f"soffice.bin --terminate_after_init exited with {first.returncode}")
    args.pipe = f"jpki-lo-{os.getpid()}"
    out = open(os.path.join(args.workdir, "soffice.log"), "wb")
    proc = subprocess.Popen(soffice_cmd(args, f"--accept=pipe,name={args.pipe};urp;"),
                            env=soffice_env(args), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc_box.append(proc)
    log(f"soffice.bin started, PID {proc.pid}")
    return proc


def connect(args, proc):
    import uno
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local)
    url = f"uno:pipe,name={args.pipe};urp;StarOffice.ComponentContext"
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"soffice.bin exited with {proc.returncode} before accepting")
        try:
            return resolver.resolve(url)
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("could not connect to soffice.bin")


def pv(name, value):
    from com.sun.star.beans import PropertyValue
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def nv(name, value):
    from com.sun.star.beans import NamedValue
    p = NamedValue()
    p.Name, p.Value = name, value
    return p


def step(result, name, fn):
    """Runs one step, recording {"ok": true, ...} or {"ok": false, "error": ...}."""
    try:
        out = fn() or {}
        result["steps"][name] = dict(ok=True, **out)
    except Exception as e:
        result["steps"][name] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    log(f"{name}: {result['steps'][name]}")
    return result["steps"][name]


def load_component(ctx, implementation, filename):
    """An instance of the Python UNO component `implementation` from tests/e2e/`filename`,
    created inside soffice.bin by LibreOffice's own Python loader."""
    import uno
    smgr = ctx.ServiceManager
    loader = smgr.createInstanceWithContext("com.sun.star.loader.Python", ctx)
    factory = loader.activate(implementation, "",
                              uno.systemPathToFileUrl(os.path.join(HERE, filename)), None)
    return factory.createInstanceWithContext(ctx)


def write_document(ctx, path):
    """A small Writer document stored at `path` (ODF); returns the open document."""
    import uno
    desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
    doc = desktop.loadComponentFromURL("private:factory/swriter", "_blank", 0,
                                       (pv("Hidden", True),))
    doc.Text.setString("jpki-pkcs11 LibreOffice test / 署名のテスト")
    doc.storeToURL(uno.systemPathToFileUrl(path), (pv("FilterName", "writer8"),))
    return doc


def login_and_list(args, ctx, result):
    """LibreOffice's NSS security environment lists the personal certificates after the
    PIN answerer (the user at the PIN prompt) is installed in soffice.bin: NSS logs in to the
    token with the PIN, and only then does the card's signing certificate appear. Records
    result["subject"], ["tokens"], step "login_and_list" and ["pin_prompts"]; returns
    (environment, answerer)."""
    import uno
    smgr = ctx.ServiceManager
    sei = smgr.createInstanceWithContext("com.sun.star.xml.crypto.SEInitializer", ctx)
    env = sei.createSecurityContext("").getSecurityEnvironment()
    with open(args.cert_der, "rb") as f:
        wanted = env.createCertificateFromRaw(uno.ByteSequence(f.read())).SubjectName
    result["subject"] = wanted
    result["tokens"] = env.getSecurityEnvironmentInformation().split("\n")

    # Installed after the environment above: creating a security environment resets NSS's
    # password callback to LibreOffice's own.
    answerer = load_component(ctx, "org.jpki.test.PinAnswerer", "libreoffice_pin_answerer.py")
    answerer.execute((nv("op", "install"), nv("pin", args.pin), nv("max_answers", 10)))

    def list_certs():
        return {"subjects": [c.SubjectName for c in env.getPersonalCertificates()]}
    step(result, "login_and_list", list_certs)
    result["pin_prompts"] = pin_prompts(answerer)
    return env, answerer


def pin_prompts(answerer):
    """The PIN prompts the answerer has seen: [token, retry] pairs."""
    return [line.split("\t") for line in answerer.execute((nv("op", "calls"),)).splitlines()]


def stop_soffice(ctx, proc):
    try:
        ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx).terminate()
    except Exception:
        pass  # the bridge goes away while terminate() returns
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        log(f"soffice.bin ({proc.pid}) did not terminate; killing it")
        kill_soffice([proc])
        return "killed"


def kill_soffice(proc_box):
    for proc in proc_box:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: soffice.bin and children
            except ProcessLookupError:
                pass
            proc.wait()
