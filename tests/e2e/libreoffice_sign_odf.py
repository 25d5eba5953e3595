#!/usr/bin/python3
"""Drives a private headless LibreOffice through UNO to sign an ODF document with jpki-pkcs11.so.

Used by tests/e2e/test-libreoffice-sign-odf.sh (through libreoffice_common.sh);
libreoffice_harness.py starts and stops soffice.bin and says what the arguments are. Steps:

 1. writes a small Writer document (WORKDIR/doc.odt);
 2. logs in through LibreOffice's security environment with the PIN answerer in soffice.bin,
    as the PDF driver does (libreoffice_harness.login_and_list);
 3. "sign1": copies it to WORKDIR/signed.odt and signs that with the card's signing
    certificate through libreoffice_odf_signer.py, inside soffice.bin (see there why and how);
    "verify1"/"state1": LibreOffice's verification of it and the document's signature state;
 4. "sign2"/"verify2"/"state2": the same for a second signature, on WORKDIR/signed2.odt (a
    copy of signed.odt);
 5. "verify_changed"/"state_changed": WORKDIR/changed.odt, signed2.odt with its text changed
    after signing (content.xml rewritten in the zip, as any program editing the file would).

Every step's outcome goes to the JSON file RESULT; the calling test judges it.
"""
import base64
import json
import os
import re
import shutil
import sys
import zipfile

from libreoffice_harness import (load_component, login_and_list, nv, pin_prompts, run, step,
                                 write_document)

TEXT = "jpki-pkcs11 LibreOffice test"
CHANGED = "jpki-pkcs11 LibreOffice TEST"  # same length: only the signature can tell


def odf_version(path):
    with zipfile.ZipFile(path) as z:
        m = re.search(rb'manifest:version="([^"]+)"', z.read("META-INF/manifest.xml"))
    return m.group(1).decode() if m else "1.2"


def rewrite_member(src, dst, name, change):
    """Copies the zip `src` to `dst` with member `name` replaced by change(bytes); the other
    members (mimetype first and stored, as ODF wants) are copied as they are."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info, change(data) if info.filename == name else data)


def odf_steps(args, ctx, result):
    import uno
    workdir = os.path.abspath(args.workdir)
    doc_path = os.path.join(workdir, "doc.odt")
    write_document(ctx, doc_path).close(True)
    version = odf_version(doc_path)
    result["odf_version"] = version
    _, answerer = login_and_list(args, ctx, result)
    signer = load_component(ctx, "org.jpki.test.OdfSigner", "libreoffice_odf_signer.py")
    with open(args.cert_der, "rb") as f:
        cert_b64 = base64.b64encode(f.read()).decode()

    def call(**named):
        return json.loads(signer.execute(tuple(nv(k, v) for k, v in named.items())))

    def check(suffix, path):
        url = uno.systemPathToFileUrl(path)
        step(result, "verify" + suffix,
             lambda: {"signatures": call(op="verify", url=url, version=version)})
        step(result, "state" + suffix, lambda: call(op="state", url=url))

    def sign(suffix, src, dst):
        shutil.copyfile(src, dst)
        url = uno.systemPathToFileUrl(dst)
        step(result, "sign" + suffix, lambda: call(op="sign", url=url, cert=cert_b64,
                                                   version=version))
        check(suffix, dst)

    signed = os.path.join(workdir, "signed.odt")
    signed2 = os.path.join(workdir, "signed2.odt")
    changed = os.path.join(workdir, "changed.odt")
    sign("1", doc_path, signed)
    sign("2", signed, signed2)

    def change():
        rewrite_member(signed2, changed, "content.xml",
                       lambda data: data.replace(TEXT.encode(), CHANGED.encode()))
        with zipfile.ZipFile(changed) as z:
            if CHANGED.encode() not in z.read("content.xml"):
                raise RuntimeError("the text to change is not in content.xml")
    if step(result, "change", change)["ok"]:
        check("_changed", changed)

    result["pin_prompts"] = pin_prompts(answerer)


if __name__ == "__main__":
    sys.exit(run(__doc__, odf_steps))
