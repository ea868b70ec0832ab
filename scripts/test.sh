#!/bin/bash
# The whole test suite on a fresh Debian 12 machine (as root): installs what
# it needs, builds with warnings as errors, runs unit, functional and guest
# tests, and ends with "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then
    ./configure --enable-werror
fi
ninja -C build
exec /usr/bin/python3 tests/run.py "$@"
