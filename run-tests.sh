#!/usr/bin/env bash
# run-tests.sh: installs what is missing, builds with warnings as errors, runs every test.
set -euo pipefail
cd "$(dirname "$0")"
./install-deps.sh
build=${JPKI_BUILD_DIR:-build}
cmake -S . -B "$build" -DJPKI_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
