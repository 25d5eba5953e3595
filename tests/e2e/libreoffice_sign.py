#!/usr/bin/python3
"""Drives a private headless LibreOffice through UNO to sign with jpki-pkcs11.so.

Used by tests/e2e/test-libreoffice-*.sh (run it with Debian's /usr/bin/python3, which has the
`uno` module of python3-uno). It starts soffice.bin with its own user profile and
MOZILLA_CERTIFICATE_FOLDER=sql:NSSDB (an NSS database where the module is registered), then:

 1. writes a small Writer document (WORKDIR/doc.odt);
 2. loads libreoffice_pin_answerer.py into soffice.bin as the user at the PIN prompt (see there
    why: headless LibreOffice cannot show its PIN dialog) and asks LibreOffice's security
    environment for the personal certificates: NSS logs in to the token with the PIN, and only
    then does the card's signing certificate appear;
 3. exports the document to WORKDIR/signed.pdf with the PDF filter options SignPDF and
    SignCertificateSubjectName (LibreOffice >= 7.4; subject as LibreOffice prints it);
 4. terminates LibreOffice, killing it by PID if it does not go.

Every step's outcome goes to the JSON file RESULT; the calling test judges it. The exit status
is 0 unless the harness itself failed (LibreOffice not starting, UNO errors outside the steps).
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
    print(f"libreoffice_sign: {msg}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nssdb", required=True, help="NSS database folder (sql: format)")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--pin", required=True, help="what the user types at the PIN prompt")
    ap.add_argument("--cert-der", required=True, help="the signing certificate (names it)")
    ap.add_argument("--result", required=True)
    ap.add_argument("--timeout", type=float, default=150, help="seconds for the whole run")
    args = ap.parse_args()

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
        run_steps(args, ctx, result)
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


def run_steps(args, ctx, result):
    import uno
    smgr = ctx.ServiceManager
    workdir = os.path.abspath(args.workdir)
    odt = os.path.join(workdir, "doc.odt")
    pdf = os.path.join(workdir, "signed.pdf")

    desktop = smgr.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
    doc = desktop.loadComponentFromURL("private:factory/swriter", "_blank", 0,
                                       (pv("Hidden", True),))
    doc.Text.setString("jpki-pkcs11 LibreOffice test / 署名のテスト")
    doc.storeToURL(uno.systemPathToFileUrl(odt), (pv("FilterName", "writer8"),))

    # LibreOffice's own NSS security environment (MOZILLA_CERTIFICATE_FOLDER).
    sei = smgr.createInstanceWithContext("com.sun.star.xml.crypto.SEInitializer", ctx)
    env = sei.createSecurityContext("").getSecurityEnvironment()
    with open(args.cert_der, "rb") as f:
        wanted = env.createCertificateFromRaw(uno.ByteSequence(f.read())).SubjectName
    result["subject"] = wanted
    result["tokens"] = env.getSecurityEnvironmentInformation().split("\n")

    # The user at the PIN prompt, inside soffice.bin (installed after the environment above:
    # creating a security environment resets NSS's password callback to LibreOffice's own).
    loader = smgr.createInstanceWithContext("com.sun.star.loader.Python", ctx)
    factory = loader.activate("org.jpki.test.PinAnswerer", "",
                              uno.systemPathToFileUrl(os.path.join(HERE, "libreoffice_pin_answerer.py")),
                              None)
    answerer = factory.createInstanceWithContext(ctx)
    answerer.execute((nv("op", "install"), nv("pin", args.pin), nv("max_answers", 10)))

    certs = []

    def list_certs():
        certs.extend(env.getPersonalCertificates())
        return {"subjects": [c.SubjectName for c in certs]}
    step(result, "login_and_list", list_certs)
    result["pin_prompts"] = [line.split("\t") for line in
                             answerer.execute((nv("op", "calls"),)).splitlines()]

    def export_pdf():
        if os.path.exists(pdf):
            os.unlink(pdf)
        fd = uno.Any("[]com.sun.star.beans.PropertyValue",
                     (pv("SignPDF", True), pv("SignCertificateSubjectName", wanted)))
        doc.storeToURL(uno.systemPathToFileUrl(pdf),
                       (pv("FilterName", "writer_pdf_Export"), pv("FilterData", fd)))
        return {"size": os.path.getsize(pdf)}
    step(result, "pdf_export", export_pdf)

    doc.close(True)


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


if __name__ == "__main__":
    sys.exit(main())
