#!/usr/bin/env bash
# run-tests.sh: installs what the tests need and is missing (install-deps.sh tests: the demo's
# packages, the end-to-end clients, clang; nothing removed), then runs every test stage, stopping
# at the first that fails. Each stage prints a line with its name, result and wall time; a summary
# ends the run.
#
#   main   build/ (g++, warnings as errors) and the whole ctest suite
#   asan   build-asan/ with ASan+UBSan, the ctest subset below
#   tsan   build-tsan/ with TSan, the ctest subset below
#   tidy   clang-tidy over src/ with the repository's .clang-tidy; any finding fails
#   fuzz   build-fuzz/ (clang, libFuzzer, ASan+UBSan) and `ctest -L fuzz`, once tests/fuzz exists
#
# JPKI_TEST_STAGES picks stages (default: all, in this order), e.g. JPKI_TEST_STAGES="asan tidy".
# JPKI_BUILD_DIR renames the main build folder (default build).
set -euo pipefail
cd "$(dirname "$0")"
./install-deps.sh tests

stages=${JPKI_TEST_STAGES:-main asan tsan tidy fuzz}
build=${JPKI_BUILD_DIR:-build}
jobs=$(nproc)

# The sanitizer subsets: the tests whose every instrumented process is one of ours (unit_tests,
# api_tests, api_module_tests, vcard_tests, jpki-vcard, pcsc-fixture). pcscd, opensc-tool and
# pkcs11-tool with OpenSC's own module may run beside them: they do not load our code.
# Left out: pcsc.module.* and e2e.*, where pkcs11-tool, NSS tools, p11-kit, curl, Firefox or
# LibreOffice dlopen jpki-pkcs11.so; an instrumented module there needs the sanitizer runtime
# LD_PRELOADed into those programs, which is fragile (their own bugs, their own allocators).
# Their code paths in the module are the ones api_tests and api_module_tests drive in-process.
#   ASan+UBSan: unit.*, api.* (incl. api.module.*: the built module dlopen'ed by our own program),
#     vcard.*, the live PC/SC transport cases of unit_tests behind a private pcscd
#     (pcsc.transport.*), the fixture test (pcsc.fixture-leaves-nothing-running) and OpenSC's
#     driver against our virtual card (fidelity.opensc.*).
#   TSan: unit.* and api.* (their [threads] cases: concurrent sessions, signing from several
#     threads, blocking C_WaitForSlotEvent against C_Finalize).
asan_tests='^(unit|api|vcard|fidelity\.opensc)\.|^pcsc\.transport\.|^pcsc\.fixture-leaves-nothing-running$'
asan_targets=(unit_tests api_tests api_module_tests jpki-pkcs11 vcard_tests jpki-vcard pcsc-fixture)
tsan_tests='^(unit|api)\.'
tsan_targets=(unit_tests api_tests api_module_tests jpki-pkcs11)

# Every instrumented process writes its reports into one folder per stage (a card program in the
# background has no test to fail): the stage fails when any report is there.
sanitizer_env() {
    local logs=$1
    rm -rf "$logs" && mkdir -p "$logs" && chmod 1777 "$logs"   # fixture-test runs the card as nobody too
    export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
    export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
    export TSAN_OPTIONS="log_path=$logs/tsan:second_deadlock_stack=1:halt_on_error=1"
}
no_sanitizer_reports() {
    local logs=$1 report found=0
    for report in "$logs"/*; do
        [ -e "$report" ] || continue
        found=1
        echo "---- $report" >&2
        cat "$report" >&2
    done
    [ "$found" = 0 ] || { echo "sanitizer reports above (in $logs)" >&2; return 1; }
}

stage_main() {
    cmake -S . -B "$build" -DJPKI_WERROR=ON >/dev/null
    nice cmake --build "$build" -j "$jobs"
    ctest --test-dir "$build" --output-on-failure -j "$jobs"
}

# sanitized DIR SANITIZERS REGEX TARGETS...: builds TARGETS instrumented, runs the tests REGEX picks.
sanitized() {
    local dir=$1 sanitize=$2 regex=$3
    shift 3
    cmake -S . -B "$dir" -DJPKI_WERROR=ON -DJPKI_SANITIZE="$sanitize" >/dev/null
    nice cmake --build "$dir" -j "$jobs" --target "$@"
    (
        sanitizer_env "$PWD/$dir/sanitizer-reports"
        ctest --test-dir "$dir" --output-on-failure -j "$jobs" -R "$regex"
    ) || { no_sanitizer_reports "$dir/sanitizer-reports"; return 1; }
    no_sanitizer_reports "$dir/sanitizer-reports"
}
stage_asan() { sanitized build-asan address,undefined "$asan_tests" "${asan_targets[@]}"; }
stage_tsan() { sanitized build-tsan thread "$tsan_tests" "${tsan_targets[@]}"; }

# clang-tidy on every src/ file, with the main build's compile_commands.json; a finding of any
# check .clang-tidy enables, or a clang warning, is an error.
stage_tidy() {
    local tidy
    tidy=$(command -v clang-tidy-14 || command -v clang-tidy) || { echo "clang-tidy not installed" >&2; return 1; }
    [ -f "$build/compile_commands.json" ] || cmake -S . -B "$build" -DJPKI_WERROR=ON >/dev/null
    find src -name '*.cpp' -print0 | sort -z |
        nice xargs -0 -P "$jobs" -n 4 "$tidy" -p "$build" --quiet --warnings-as-errors='*' 2>&1 |
        sed '/^[0-9]* warnings\{0,1\} generated\.$/d'   # clang's count of the system headers' warnings
}

# The libFuzzer targets of tests/fuzz, built by clang with ASan+UBSan; each fuzz test runs its
# target for a bounded time (tests/fuzz decides how long).
stage_fuzz() {
    if [ ! -f tests/fuzz/CMakeLists.txt ]; then
        echo "no tests/fuzz/CMakeLists.txt: no fuzz targets yet"
        return 0
    fi
    local dir=build-fuzz targets=()
    cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DJPKI_WERROR=ON \
        -DJPKI_FUZZ=ON -DJPKI_SANITIZE=address,undefined >/dev/null
    # Build just the targets tests/fuzz defines (with Makefiles; every target otherwise).
    mapfile -t targets < <(make -C "$dir/tests/fuzz" help 2>/dev/null | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p' |
        grep -v -E '^(all|clean|depend|edit_cache|rebuild_cache|test|install.*|list_install_components)$|\.[ios]$')
    if [ ${#targets[@]} -gt 0 ]; then
        nice cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
    else
        nice cmake --build "$dir" -j "$jobs"
    fi
    (
        sanitizer_env "$PWD/$dir/sanitizer-reports"
        ctest --test-dir "$dir" --output-on-failure -j "$jobs" -L fuzz
    ) || { no_sanitizer_reports "$dir/sanitizer-reports"; return 1; }
    no_sanitizer_reports "$dir/sanitizer-reports"
}

summary=()
print_summary() {
    [ ${#summary[@]} -gt 0 ] || return 0
    echo "==== run-tests.sh stages"
    printf '  %s\n' "${summary[@]}"
}
trap print_summary EXIT

for stage in $stages; do
    declare -F "stage_$stage" >/dev/null || { echo "run-tests: unknown stage '$stage' (main asan tsan tidy fuzz)" >&2; exit 2; }
done
for stage in $stages; do
    echo "==== stage $stage: start ($(date -u +%H:%M:%S))"
    start=$SECONDS
    set +e
    ( set -e; "stage_$stage" )
    status=$?
    set -e
    took=$((SECONDS - start))
    line=$(printf '%-5s %s in %dm%02ds' "$stage" "$([ "$status" = 0 ] && echo passed || echo FAILED)" \
        $((took / 60)) $((took % 60)))
    summary+=("$line")
    echo "==== stage $line"
    [ "$status" = 0 ] || { echo "run-tests: stage $stage failed" >&2; exit 1; }
done
