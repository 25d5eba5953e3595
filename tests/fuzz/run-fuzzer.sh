#!/usr/bin/env bash
# run-fuzzer.sh FUZZER CORPUS_DIR SCRATCH_DIR SECONDS: one bounded libFuzzer run for ctest.
# The seed corpus is copied to SCRATCH_DIR (libFuzzer adds the inputs it finds there, never to
# the repository). Two passes:
#  1. fuzz for SECONDS with LeakSanitizer's per-input check off: OpenSSL's lazily filled caches
#     make libFuzzer suspect a leak on many inputs, and the full heap scan each time costs ~90 %
#     of the run (fuzz_certificate: ~300 instead of ~3000 executions a second);
#  2. run every input of the grown corpus once more with leak detection on.
# Exit status: non-zero on a crash, leak, timeout, sanitizer report or failed invariant; the
# input is left in SCRATCH_DIR/crash-* (or leak-*, timeout-*).
set -euo pipefail
fuzzer=$1 corpus=$2 scratch=$3 seconds=$4
rm -rf "$scratch"
mkdir -p "$scratch/corpus"
cp "$corpus"/* "$scratch/corpus/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
name=$(basename "$fuzzer")

report() {  # report LOG STATUS
    if [ "$2" != 0 ]; then
        tail -n 60 "$1"
        ls "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-* "$scratch"/oom-* 2>/dev/null || true
        exit "$2"
    fi
}

status=0
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -detect_leaks=0 -print_final_stats=1 \
    -artifact_prefix="$scratch/" "$scratch/corpus" > "$scratch/fuzz.log" 2>&1 || status=$?
executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/fuzz.log")
grep -E '^stat::' "$scratch/fuzz.log" || true
echo "fuzz executions: $name ${executions:-?} in ${seconds}s (status $status)"
report "$scratch/fuzz.log" "$status"

"$fuzzer" -runs=0 -rss_limit_mb=2048 -timeout=10 -detect_leaks=1 \
    -artifact_prefix="$scratch/" "$scratch/corpus" > "$scratch/leaks.log" 2>&1 || status=$?
inputs=$(find "$scratch/corpus" -type f | wc -l)
echo "leak check: $name $inputs corpus inputs (status $status)"
report "$scratch/leaks.log" "$status"
