# A Python UNO component that test-libreoffice-sign-odf.sh loads *inside* soffice.bin (through
# LibreOffice's Python loader, as libreoffice_pin_answerer.py is) to sign and check ODF
# documents with LibreOffice's own xmlsecurity code.
#
# Why inside: File ▸ Digital Signatures ▸ Sign Document is a dialog (xmlsecurity's
# DigitalSignaturesDialog), and Debian's LibreOffice without GUI always runs headless, where
# every dialog is cancelled. The dialog's "Sign Document…" button ends in
# DocumentSignatureManager::add(certificate, ..., bAdESCompliant=true); the UNO method
# XDocumentDigitalSignatures.signDocumentWithCertificate (in 7.4's types/offapi.rdb; what
# LibreOfficeKit's signing uses) runs that same call without the dialog. Called from the test's
# own Python process over the UNO bridge it dropped the connection (issue 10); called here, in
# soffice.bin, the certificate is LibreOffice's own NSS object and nothing crosses the bridge
# but strings. (Driving the dialog did not work either: a -nogui soffice.bin started without
# --headless showed no dialog for .uno:Signature through its UI-test service, and crashed on
# .uno:About.)
#
# LibreOffice 7.4's signDocumentWithCertificate keeps only the signature it adds: it calls
# DocumentSignatureManager::add() on a fresh manager, and add() writes back the existing
# signatures from maCurrentSignatureInformations, which only read() fills, called after add()
# (xmlsecurity/source/component/documentdigitalsignatures.cxx,
# xmlsecurity/source/helper/documentsignaturemanager.cxx). The dialog reads them first, so a
# second signature made there sits beside the first.
#
# Everything is LibreOffice's code: the certificate comes from its NSS security environment
# (MOZILLA_CERTIFICATE_FOLDER), the storage is opened the way sfx2 opens it to sign
# (ZipFormat, read-write), the signatures are read back by verifyDocumentContentSignatures
# (what sfx2's ImplGetSignatureState uses), and the state of the .uno:Signature command is the
# SignatureState the status bar and the infobar show.
#
# It is a com.sun.star.task.XJob; execute() takes NamedValues and returns a JSON string:
#   op=sign, url=FILE URL, cert=base64 DER, version=ODF version
#       signs the document with the personal certificate whose DER is `cert`
#       -> {"signed": bool, "candidates": [subject...]}
#   op=verify, url=FILE URL, version=ODF version
#       -> [{"valid": bool, "certificate_status": int, "signer_sha256": hex or null,
#            "signer_subject": str}...]
#   op=state, url=FILE URL
#       loads the document hidden and reads its .uno:Signature state
#       -> {"state": int or null}   (sfx2's SignatureState: 0 no signatures, 1 OK, 2 BROKEN,
#           3 INVALID, 4 NOTVALIDATED = signatures fine but the certificate not trusted, ...)
import base64
import hashlib
import json

import uno
import unohelper
from com.sun.star.beans import PropertyValue
from com.sun.star.frame import XStatusListener
from com.sun.star.task import XJob
from com.sun.star.util import URL


def _pv(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def _mode(name):
    return uno.getConstantByName("com.sun.star.embed.ElementModes." + name)


class _StateListener(unohelper.Base, XStatusListener):
    def __init__(self):
        self.states = []

    def statusChanged(self, event):
        self.states.append(event.State)

    def disposing(self, _source):
        pass


class OdfSigner(unohelper.Base, XJob):
    def __init__(self, ctx):
        self.ctx = ctx
        self.smgr = ctx.ServiceManager

    def _storage(self, url, mode):
        # As sfx2 (SfxMedium::GetZipStorageToSign_Impl) and comphelper's
        # OStorageHelper::GetStorageOfFormatFromURL open a document to sign or verify it.
        factory = self.smgr.createInstanceWithContext("com.sun.star.embed.StorageFactory", self.ctx)
        props = uno.Any("[]com.sun.star.beans.PropertyValue", (_pv("StorageFormat", "ZipFormat"),))
        return uno.invoke(factory, "createInstanceWithArguments", ((url, mode, props),))

    def _signatures_service(self, version):
        return self.smgr.createInstanceWithArgumentsAndContext(
            "com.sun.star.security.DocumentDigitalSignatures", (version,), self.ctx)

    def _sign(self, url, cert_der, version):
        sei = self.smgr.createInstanceWithContext("com.sun.star.xml.crypto.SEInitializer", self.ctx)
        env = sei.createSecurityContext("").getSecurityEnvironment()
        certs = env.getPersonalCertificates()
        chosen = [c for c in certs if bytes(c.Encoded.value) == cert_der]
        out = {"candidates": [c.SubjectName for c in certs], "signed": False}
        if not chosen:
            return out
        storage = self._storage(url, _mode("READWRITE"))
        try:
            # No stream given: LibreOffice opens META-INF/documentsignatures.xml itself and
            # commits the storage.
            out["signed"] = bool(self._signatures_service(version).signDocumentWithCertificate(
                chosen[0], storage, None))
        finally:
            storage.dispose()
        return out

    def _verify(self, url, version):
        storage = self._storage(url, _mode("READ"))
        try:
            infos = self._signatures_service(version).verifyDocumentContentSignatures(storage, None)
        finally:
            storage.dispose()
        return [{
            "valid": bool(i.SignatureIsValid),
            "certificate_status": int(i.CertificateStatus),
            "signer_sha256": hashlib.sha256(bytes(i.Signer.Encoded.value)).hexdigest()
            if i.Signer else None,
            "signer_subject": i.Signer.SubjectName if i.Signer else "",
        } for i in infos]

    def _state(self, url):
        desktop = self.smgr.createInstanceWithContext("com.sun.star.frame.Desktop", self.ctx)
        doc = desktop.loadComponentFromURL(url, "_blank", 0, (_pv("Hidden", True),
                                                              _pv("ReadOnly", True)))
        try:
            frame = doc.getCurrentController().getFrame()
            command = URL()
            command.Complete = ".uno:Signature"
            transformer = self.smgr.createInstanceWithContext("com.sun.star.util.URLTransformer",
                                                              self.ctx)
            _, command = transformer.parseStrict(command)
            dispatch = frame.queryDispatch(command, "", 0)
            listener = _StateListener()
            dispatch.addStatusListener(listener, command)  # answers with the current state
            dispatch.removeStatusListener(listener, command)
            state = listener.states[-1] if listener.states else None
            return {"state": int(state) if isinstance(state, int) else None,
                    "raw": repr(state)}
        finally:
            doc.close(True)

    def execute(self, args):
        named = {nv.Name: nv.Value for nv in args}
        op = named.get("op")
        if op == "sign":
            result = self._sign(named["url"], base64.b64decode(named["cert"]), named["version"])
        elif op == "verify":
            result = self._verify(named["url"], named["version"])
        elif op == "state":
            result = self._state(named["url"])
        else:
            raise ValueError(f"unknown op {op!r}")
        return json.dumps(result)


g_ImplementationHelper = unohelper.ImplementationHelper()
g_ImplementationHelper.addImplementation(
    OdfSigner, "org.jpki.test.OdfSigner", ("org.jpki.test.OdfSigner",))
