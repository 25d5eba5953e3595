#!/usr/bin/env bash
# docs.check: the documentation a user reads (README*.md at the top, docs/**/*.md) can be followed.
# Why: the README grew into pages that link each other, and issue 9 asks that every command in
# them be one a reader can paste as is. This checks what a machine can:
#  - every relative link [text](path) names a file or folder that exists (the #anchor is ignored),
#    and every page is linked from another one;
#  - no page uses the module's old name, and no code (indented or fenced block, or `inline`)
#    keeps a placeholder that cannot work as typed (/path/to/, XXXXXXXX, "-libfile MODULE", …/);
#  - every `jpki COMMAND` in code names a command of `jpki --help`, and its sub-command word
#    (pin change, cert export, setup firefox...) and --options appear in `jpki COMMAND --help`.
# Usage: check-docs.sh SOURCE_DIR JPKI_PROGRAM     exit 0 when all holds, 1 with one line per fault.
set -euo pipefail

src=${1:?usage: check-docs.sh SOURCE_DIR JPKI_PROGRAM}
jpki=${2:?usage: check-docs.sh SOURCE_DIR JPKI_PROGRAM}
[ -x "$jpki" ] || { echo "check-docs: $jpki is not an executable" >&2; exit 1; }
jpki=$(realpath "$jpki")
cd "$src"

faults=0
fault() { echo "check-docs: $*" >&2; faults=$((faults + 1)); }

mapfile -t pages < <(find . -maxdepth 1 -name 'README*.md' -printf '%P\n'; find docs -name '*.md' 2>/dev/null)
[ ${#pages[@]} -gt 1 ] || fault "no pages found under $src"

# English messages, whatever the caller's locale.
export LC_ALL=C.UTF-8 LANGUAGE=
main_help=$("$jpki" --help)
commands=$(sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' <<<"$main_help")
declare -A help_of=()   # jpki COMMAND --help, asked once per command
[ -n "$commands" ] || fault "'jpki --help' lists no command"

# The code of a page, one line each: fenced and 4-space indented blocks, and inline `spans`.
code_of() {
    awk '
        /^[ \t]*```/ { fenced = !fenced; next }
        fenced || /^    / { print; next }
        { line = $0
          while (match(line, /`[^`]+`/)) { print substr(line, RSTART + 1, RLENGTH - 2); line = substr(line, RSTART + RLENGTH) } }
    ' "$1"
}

for page in "${pages[@]}"; do
    dir=$(dirname "$page")
    # Links: [text](target) with a relative target.
    while IFS= read -r target; do
        case $target in http://* | https://* | mailto:* | '#'*) continue ;; esac
        path=${target%%#*}
        [ -e "$dir/$path" ] || fault "$page: broken link ($target)"
    done < <(grep -oE '\]\([^) ]+\)' "$page" | sed 's/^](\(.*\))$/\1/')

    if grep -q 'JPKI My Number Card' "$page"; then
        fault "$page: the module's old name 'JPKI My Number Card' (it is 'My Number Card (JPKI)')"
    fi

    code=$(code_of "$page")
    for placeholder in '/path/to/' 'XXXXXXXX' '-libfile MODULE' '…/'; do
        if grep -qF -- "$placeholder" <<<"$code"; then fault "$page: a command keeps the placeholder '$placeholder'"; fi
    done

    # jpki invocations in code: `jpki WORD [WORD|--opt]...`
    while IFS= read -r call; do
        read -r -a words <<<"$call"
        cmd=${words[1]:-}
        case $cmd in -*) grep -qF -- "$cmd" <<<"$main_help" || fault "$page: jpki has no option $cmd"; continue ;; esac
        if ! grep -qx -- "$cmd" <<<"$commands"; then fault "$page: 'jpki $cmd' is not a jpki command"; continue; fi
        if [ -z "${help_of[$cmd]+set}" ]; then
            help_of[$cmd]=$("$jpki" "$cmd" --help 2>&1) || { fault "$page: 'jpki $cmd --help' failed"; continue; }
        fi
        help=${help_of[$cmd]}
        usage=$(grep -E "^ *(Usage: +)?jpki $cmd( |\$)" <<<"$help" || true)
        for ((i = 2; i < ${#words[@]}; i++)); do
            w=${words[i]}
            case $w in
                --*) grep -qF -- "${w%%=*}" <<<"$help" || fault "$page: 'jpki $cmd' has no option $w" ;;
                *) # a sub-command word: only where the usage spells words there (pin change, setup all)
                    [ $i = 2 ] || continue
                    [[ $w =~ ^[a-z][a-z-]*(\|[a-z-]+)*$ ]] || continue
                    grep -qE "jpki $cmd [a-z]" <<<"$usage" || continue
                    for alt in ${w//|/ }; do
                        grep -qE "jpki $cmd ([a-z-]+\|)*$alt([| ]|\$)" <<<"$usage" ||
                            fault "$page: 'jpki $cmd $alt' is not in 'jpki $cmd --help'"
                    done ;;
            esac
        done
    done < <(grep -oE '(^|[ `($])jpki( +(--?[a-z][a-z-]*|[a-z][a-z|-]*))+' <<<"$code" | sed 's/^[ `($]//')
done

# Every page is reachable: some other page links to it by its file name.
for page in "${pages[@]}"; do
    case $page in README.md) continue ;; esac
    name=$(basename "$page")
    linked=0
    for other in "${pages[@]}"; do
        [ "$other" = "$page" ] && continue
        target=$(grep -oE "\]\([^) ]*${name//./\\.}(#[^) ]*)?\)" "$other" | sed 's/^](\(.*\))$/\1/; s/#.*//' || true)
        while IFS= read -r t; do
            [ -n "$t" ] && [ "$(realpath -m "$(dirname "$other")/$t")" = "$(realpath -m "$page")" ] && linked=1
        done <<<"$target"
    done
    [ $linked = 1 ] || fault "$page: no other page links to it"
done

if [ "$faults" -gt 0 ]; then
    echo "check-docs: $faults fault(s)" >&2
    exit 1
fi
echo "check-docs: ${#pages[@]} pages, links and commands OK"
