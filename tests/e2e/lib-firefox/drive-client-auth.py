#!/usr/bin/python3
"""Drives a running Firefox through Marionette for tests/e2e/test-firefox-client-auth.sh.

1. chrome context: registers an observer of "common-dialog-loaded" that records the text of every
   prompt and, only when the prompt names our token, types the PIN and accepts it (any other
   prompt is cancelled, so a wrong prompt cannot hang the test), and of "cert-dialog-loaded"
   (the certificate chooser of "Ask Every Time") that records the certificates offered and
   picks ours;
2. lists every module, slot and token Firefox sees (nsIPKCS11ModuleDB);
3. content context: opens the URL (a TLS server asking for a client certificate);
4. writes the page source, the dialog log and the token list as JSON to --out.

Only the Python standard library; no geckodriver.
"""
import argparse
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from marionette import Marionette, MarionetteError  # noqa: E402

INSTALL_OBSERVER = r"""
const [tokenName, pin, certName] = arguments;
const log = [];
const observer = {
  observe(subject, topic) {
    if (topic == "common-dialog-loaded") {
      // A prompt (commonDialog.xhtml); subject is its window. Answer only our token's PIN prompt.
      const doc = subject.document;
      const body = doc.getElementById("infoBody");
      const entry = {
        kind: "prompt",
        title: doc.title || "",
        text: body ? body.textContent : "",
        answered: false,
      };
      log.push(entry);
      const dialog = doc.getElementById("commonDialog");
      const password = doc.getElementById("password1Textbox");
      if (entry.text.includes(tokenName) && password) {
        password.value = pin;
        entry.answered = true;
        subject.setTimeout(() => dialog.acceptDialog(), 0);
      } else if (dialog) {
        subject.setTimeout(() => dialog.cancelDialog(), 0);
      }
    } else if (topic == "cert-dialog-loaded") {
      // The certificate chooser (clientauthask.xhtml, "Ask Every Time"); subject is its
      // <dialog>. Choose the certificate whose label names certName, if listed.
      const doc = subject.ownerDocument;
      const items = [...doc.getElementById("nicknames").menupopup.children];
      const entry = { kind: "chooser", certificates: items.map(i => i.getAttribute("label")), answered: false };
      log.push(entry);
      const index = entry.certificates.findIndex(label => label.includes(certName));
      if (index >= 0) {
        doc.getElementById("nicknames").selectedItem = items[index];
        doc.getElementById("rememberSetting").value = 0;   // do not remember the choice
        entry.answered = true;
        doc.defaultView.setTimeout(() => subject.acceptDialog(), 0);
      } else {
        doc.defaultView.setTimeout(() => subject.cancelDialog(), 0);
      }
    }
  },
};
Services.obs.addObserver(observer, "common-dialog-loaded");
Services.obs.addObserver(observer, "cert-dialog-loaded");
window.jpkiTest = { log, observer };
return true;
"""

LIST_TOKENS = r"""
const moduleDb = Cc["@mozilla.org/security/pkcs11moduledb;1"].getService(Ci.nsIPKCS11ModuleDB);
return (async () => {
  const modules = [];
  for (const module of await moduleDb.listModules()) {
    const slots = [];
    for (const slot of module.slots) {
      let token = null;
      try { token = slot.tokenName; } catch (e) { token = null; }
      slots.push({ slot: slot.name, token });
    }
    modules.push({ name: module.name, library: module.libName, slots });
  }
  return modules;
})();
"""

READ_LOG = r"""
const t = window.jpkiTest;
Services.obs.removeObserver(t.observer, "common-dialog-loaded");
Services.obs.removeObserver(t.observer, "cert-dialog-loaded");
return t.log;
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True, help="Marionette port")
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True, help="label of the token whose PIN prompt we answer")
    p.add_argument("--pin", required=True)
    p.add_argument("--cert", required=True, help="text naming our certificate in the chooser")
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=float, default=90, help="seconds for the whole run")
    args = p.parse_args()

    deadline = time.monotonic() + args.timeout
    result = {"page": None, "dialogs": None, "modules": None, "error": None}
    m = Marionette.connect("127.0.0.1", args.port, deadline)
    try:
        m.new_session({"unhandledPromptBehavior": "ignore"})
        m.set_context("chrome")
        m.execute(INSTALL_OBSERVER, [args.token, args.pin, args.cert], timeout=20)
        result["modules"] = m.execute(LIST_TOKENS, [], timeout=20)
        m.set_context("content")
        m.send("WebDriver:SetTimeouts", {"pageLoad": int(max(5, deadline - time.monotonic() - 15) * 1000)})
        navigation = ""
        try:
            m.navigate(args.url, timeout=max(5, deadline - time.monotonic() - 10))
        except MarionetteError as e:
            navigation = f" ({e})"   # only worth reporting if the page never comes
        # Marionette ends a navigation as soon as a prompt opens (here: the PIN prompt), so wait
        # for the page itself: s_server's page ends with "</pre>", an error page has its own URL.
        while True:
            try:
                state = m.execute("return [document.documentURI, document.readyState]", timeout=10)
                url, ready = state if isinstance(state, list) else ("", repr(state))
                result["page"] = m.page_source()
            except MarionetteError as e:   # e.g. no document yet while a page is replaced
                url, ready = "", str(e)
            if url.startswith("about:") and url != "about:blank":
                # Firefox's error page (about:neterror, about:certerror): its URL says what failed.
                time.sleep(1)   # the page fills in its text asynchronously
                try:
                    text = m.execute(
                        "const card = document.querySelector('net-error-card');"
                        "const root = card?.shadowRoot ?? document.body;"
                        "return root?.textContent ?? ''", timeout=10)
                except MarionetteError:
                    text = ""
                result["error"] = (f"Firefox shows an error page: {urllib.parse.unquote(url)}: "
                                   + " ".join((text or "").split())[:800])
                break
            if "</pre>" in (result["page"] or "").lower() and ready == "complete":
                break
            if time.monotonic() > deadline - 10:
                result["error"] = f"the page did not load (URL {url}, readyState {ready}){navigation}"
                break
            time.sleep(0.25)
    except Exception as e:  # noqa: BLE001 -- whatever happened, the log of dialogs is still wanted
        result["error"] = (result["error"] + "; " if result["error"] else "") + repr(e)
    try:
        m.set_context("chrome")
        result["dialogs"] = m.execute(READ_LOG, [], timeout=20)
    except (MarionetteError, OSError) as e:
        result["error"] = (result["error"] + "; " if result["error"] else "") + str(e)
    finally:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, ensure_ascii=False)
        m.quit()
        m.close()
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
