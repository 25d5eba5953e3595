#!/usr/bin/python3
"""Drives a private headless LibreOffice through UNO to sign a PDF export with jpki-pkcs11.so.

Used by tests/e2e/test-libreoffice-{sign-pdf,final-try}.sh (through libreoffice_common.sh);
libreoffice_harness.py starts and stops soffice.bin and says what the arguments are. Steps:

 1. writes a small Writer document (WORKDIR/doc.odt);
 2. loads libreoffice_pin_answerer.py into soffice.bin as the user at the PIN prompt (see there
    why: headless LibreOffice cannot show its PIN dialog) and asks LibreOffice's security
    environment for the personal certificates: NSS logs in to the token with the PIN, and only
    then does the card's signing certificate appear;
 3. exports the document to WORKDIR/signed.pdf with the PDF filter options SignPDF and
    SignCertificateSubjectName (LibreOffice >= 7.4; subject as LibreOffice prints it).

Every step's outcome goes to the JSON file RESULT; the calling test judges it.
"""
import os
import sys

from libreoffice_harness import login_and_list, pv, run, step, write_document


def pdf_steps(args, ctx, result):
    import uno
    workdir = os.path.abspath(args.workdir)
    pdf = os.path.join(workdir, "signed.pdf")
    doc = write_document(ctx, os.path.join(workdir, "doc.odt"))
    login_and_list(args, ctx, result)
    wanted = result["subject"]

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


if __name__ == "__main__":
    sys.exit(run(__doc__, pdf_steps))
