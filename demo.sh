#!/usr/bin/env bash
# demo.sh: installs what the demo needs and is missing (install-deps.sh demo: no Firefox, no
# LibreOffice, nothing removed), builds, and shows the virtual My Number Card answering through
# the real PC/SC stack (a private pcscd + vpcd), step by step.
set -euo pipefail
cd "$(dirname "$0")"
./install-deps.sh demo
build=${JPKI_BUILD_DIR:-build}
cmake -S . -B "$build" >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
export JPKI_BUILD_DIR=$PWD/$build
exec tests/pcsc/with-vcard.sh --auth-pin 1234 --sign-pin ABC123 -- bash tests/pcsc/demo-steps.sh
