#!/bin/bash
# The whole test suite on a fresh Debian 12 machine (as root): installs what
# it needs, builds with warnings as errors, runs unit, functional and guest
# tests, and ends with "N passed, N failed, N skipped". The unit and qtest
# programs run a second time from build-san/, built with AddressSanitizer
# and UBSan, where any sanitizer report fails the test; so do a set of
# functional modules, and another set against build-tsan/ (ThreadSanitizer;
# tests/functional/test_sanitizers.py).
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
if [ ! -f build-tsan/build.ninja ]; then
    ./configure --enable-tsan --enable-werror --builddir=build-tsan
fi
ninja -C build-tsan vireo tools/vireo-img
export VIREO_SAN_BUILD_DIR=$PWD/build-san
export VIREO_TSAN_BUILD_DIR=$PWD/build-tsan
exec /usr/bin/python3 tests/run.py "$@"
