# A Python UNO component that test-libreoffice-*.sh loads *inside* soffice.bin (through
# LibreOffice's own Python loader, com.sun.star.loader.Python) to play the user at LibreOffice's
# PIN prompt.
#
# Why: when NSS needs a token's PIN, LibreOffice's password callback (xmlsecurity,
# securityenvironment_nssimpl.cxx) raises a password dialog through the interaction handler.
# Debian's LibreOffice without GUI (libreoffice-*-nogui) always runs headless, where every
# dialog is cancelled at once, so LibreOffice can never log in to a PIN-protected token by
# itself. (The PDF export's SignaturePassword does not help either: 7.4 looks the private key
# up before it installs the callback that would use it.) This component installs an NSS
# password callback (PK11_SetPasswordFunc) in the soffice.bin process that answers with a
# given PIN, like the user typing it into the prompt, and answers again with the same PIN when
# NSS reports a wrong one and asks again, exactly as LibreOffice's own PDF-signing callback
# does. Everything else (finding the token, logging in, listing the certificate, signing)
# is LibreOffice's and NSS's own code.
#
# It is a com.sun.star.task.XJob; execute() takes NamedValues:
#   op=install, pin=PIN [, max_answers=N]  install the callback (PIN answered at most N times)
#   op=calls                                the prompts seen so far, one "token<TAB>retry" a line
import ctypes

import unohelper
from com.sun.star.task import XJob

_PASSWORD_FUNC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
_state = {"pin": None, "max_answers": 10, "calls": []}


def _answer(slot, retry, _arg):
    nss = ctypes.CDLL("libnss3.so")
    nss.PK11_GetTokenName.restype = ctypes.c_char_p
    nss.PK11_GetTokenName.argtypes = [ctypes.c_void_p]
    token = (nss.PK11_GetTokenName(slot) or b"?").decode("utf-8", "replace")
    _state["calls"].append((token, bool(retry)))
    if _state["pin"] is None or len(_state["calls"]) > _state["max_answers"]:
        return None  # the user pressed Cancel
    # NSS frees the answer with PORT_Free: allocate it with NSS's allocator.
    util = ctypes.CDLL("libnssutil3.so")
    util.PORT_Strdup_Util.restype = ctypes.c_void_p
    util.PORT_Strdup_Util.argtypes = [ctypes.c_char_p]
    return util.PORT_Strdup_Util(_state["pin"].encode("utf-8"))


_answer_ref = _PASSWORD_FUNC(_answer)  # must outlive every call NSS makes


class PinAnswerer(unohelper.Base, XJob):
    def __init__(self, ctx):
        self.ctx = ctx

    def execute(self, args):
        named = {nv.Name: nv.Value for nv in args}
        op = named.get("op")
        if op == "install":
            _state["pin"] = named.get("pin")
            _state["max_answers"] = int(named.get("max_answers", 10))
            _state["calls"].clear()
            nss = ctypes.CDLL("libnss3.so")
            nss.PK11_SetPasswordFunc.argtypes = [_PASSWORD_FUNC]
            nss.PK11_SetPasswordFunc.restype = None
            nss.PK11_SetPasswordFunc(_answer_ref)
            return "installed"
        if op == "calls":
            return "\n".join(f"{token}\t{retry}" for token, retry in _state["calls"])
        raise ValueError(f"unknown op {op!r}")


g_ImplementationHelper = unohelper.ImplementationHelper()
g_ImplementationHelper.addImplementation(
    PinAnswerer, "org.jpki.test.PinAnswerer", ("org.jpki.test.PinAnswerer",))
