#!/bin/bash
# The whole test suite on a fresh Debian 12 machine (as root): installs what
# it needs, builds with warnings as errors, runs unit, functional and guest
# tests, and ends with "N passed, N failed, N skipped". The unit and qtest
# programs run a second time from build-san/, built with AddressSanitizer
# and UBSan, where any sanitizer report fails the test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then
    ./configure --enable-werror
fi
ninja -C build
if [ ! -f build-san/build.ninja ]; then
    ./configure --enable-asan --enable-ubsan --enable-werror --builddir=build-san
fi
ninja -C build-san
export VIREO_SAN_BUILD_DIR=$PWD/build-san
exec /usr/bin/python3 tests/run.py "$@"
