#!/usr/bin/env python3
"""po-tool.py: the `jpki` command's message catalogue (src/cli/po/*.po) for maintainers and tests.

  po-tool.py pot OUT.pot                 xgettext over src/cli/*.cpp (keywords tr, ntr:1,2, noop_tr)
  po-tool.py missing                     print every msgid of the sources without a Japanese
                                         translation in po/*.po, and every msgid found in more
                                         than one po/*.po; exit 1 if there is one
  po-tool.py write AREA.po FILE.json     write po/AREA.po from a JSON list of
                                         {"en": ..., "ja": ...} or {"en": ..., "en_plural": ..., "ja": ...}

The catalogue is split by area (common, status, pin, cert, sign, setup, doctor) so that each
msgid lives in exactly one file; the build joins them with msgcat.
"""
import json
import pathlib
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
CLI = REPO / "src" / "cli"
PO = CLI / "po"

HEADER = '''msgid ""
msgstr ""
"Project-Id-Version: jpki\\n"
"PO-Revision-Date: 2026-11-30 00:00+0900\\n"
"Last-Translator: jpki-pkcs11 developers\\n"
"Language-Team: Japanese\\n"
"Language: ja\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Content-Transfer-Encoding: 8bit\\n"
"Plural-Forms: nplurals=1; plural=0;\\n"
'''


def quote(text):
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    lines = text.split("\n")
    if len(lines) == 1:
        return '"%s"' % lines[0]
    parts = ['""'] + ['"%s\\n"' % l for l in lines[:-1]]
    if lines[-1]:
        parts.append('"%s"' % lines[-1])
    return "\n".join(parts)


def pot(out):
    sources = sorted(str(p) for p in CLI.glob("*.cpp"))
    subprocess.run(["xgettext", "--from-code=UTF-8", "-C", "--keyword=tr", "--keyword=ntr:1,2",
                    "--keyword=noop_tr", "--omit-header", "--no-location", "-o", out] + sources, check=True)


def duplicates():
    """msgids present in more than one po/*.po (each belongs to exactly one area)."""
    out = subprocess.run(["msgcat", "--more-than=1"] + sorted(str(p) for p in PO.glob("*.po")),
                         check=True, capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if l.startswith("msgid ") and l != 'msgid ""']


def missing():
    dup = duplicates()
    if dup:
        print("messages in more than one src/cli/po/*.po (keep each in one file; shared ones in common.po):")
        print("\n".join(dup))
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        pot_file = pathlib.Path(tmp) / "jpki.pot"
        pot(str(pot_file))
        if not pot_file.exists():
            return 0
        joined = pathlib.Path(tmp) / "ja.po"
        subprocess.run(["msgcat", "--use-first", "-o", str(joined)] + sorted(str(p) for p in PO.glob("*.po")), check=True)
        merged = pathlib.Path(tmp) / "merged.po"
        subprocess.run(["msgmerge", "--quiet", "--no-fuzzy-matching", "-o", str(merged), str(joined), str(pot_file)], check=True)
        untranslated = subprocess.run(["msgattrib", "--untranslated", "--no-obsolete", str(merged)],
                                      check=True, capture_output=True, text=True).stdout
        ids = [l for l in untranslated.splitlines() if l.startswith("msgid ") and l != 'msgid ""']
        # a multi-line msgid starts with msgid "" and continues: show those too
        blocks = [b for b in untranslated.split("\n\n") if "msgid" in b and not b.startswith('msgid ""\nmsgstr ""\n"')]
        if blocks:
            print("untranslated messages (add them to src/cli/po/AREA.po):")
            for b in blocks:
                print(b.strip() + "\n")
            return 1
        return 0


def write(area_po, entries_json):
    entries = json.loads(pathlib.Path(entries_json).read_text(encoding="utf-8"))
    out = [HEADER]
    for e in entries:
        if "en_plural" in e:
            out.append("msgid %s\nmsgid_plural %s\nmsgstr[0] %s\n" % (quote(e["en"]), quote(e["en_plural"]), quote(e["ja"])))
        else:
            out.append("msgid %s\nmsgstr %s\n" % (quote(e["en"]), quote(e["ja"])))
    pathlib.Path(area_po).write_text("\n".join(out), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "pot":
        pot(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "missing":
        sys.exit(missing())
    elif len(sys.argv) == 4 and sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
