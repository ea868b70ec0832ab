#!/bin/bash
# Builds the libFuzzer targets with clang, AddressSanitizer and UBSan in
# build-fuzz/ and runs each for FUZZ_TIME seconds (default 60) from the seed
# corpus in tests/fuzz/corpus/<target>/ or written by
# tests/fuzz/make-<target>-seeds.py, or make-qtest-seeds.py for the device
# targets (copied: new inputs stay out of the tree). A crash, leak, timeout
# or sanitizer report fails the run; libFuzzer leaves the input that caused
# it in build-fuzz/findings/. Usage:
#   tests/fuzz/run-fuzz.sh [TARGET...]      (default: every target)
#   tests/fuzz/run-fuzz.sh --list           (the targets)
set -euo pipefail
cd "$(dirname "$0")/../.."
builddir=${FUZZ_BUILD:-build-fuzz}
time=${FUZZ_TIME:-60}
# the device targets are fuzz-qtest.c with a profile (fuzz-qtest-profiles.c)
device_targets=(fuzz-qtest fuzz-virtio-blk fuzz-virtio-net fuzz-virtio-serial
                fuzz-virtio-rng fuzz-virtio-balloon fuzz-ide fuzz-ahci
                fuzz-e1000 fuzz-vga fuzz-fw-cfg fuzz-rtc fuzz-i8042
                fuzz-pflash)
input_targets=(fuzz-qmp fuzz-hmp fuzz-gdb fuzz-migration fuzz-qcow2
               fuzz-vnc)
if [ "${1:-}" = --list ]; then
    printf '%s\n' "${device_targets[@]}" "${input_targets[@]}"
    exit 0
fi

if ! command -v clang >/dev/null; then
    echo "run-fuzz: clang is needed (apt-get install clang)" >&2
    exit 2
fi
# the test suite runs targets in parallel: one build at a time in $builddir
exec 9>"$builddir.lock"
flock 9
if [ ! -f "$builddir/build.ninja" ]; then
    CC=clang meson setup "$builddir" -Dfuzzing=true -Dwerror=true \
        -Db_sanitize=address,undefined -Db_lundef=false \
        --buildtype=debugoptimized >"$builddir.setup.log" ||
        { cat "$builddir.setup.log" >&2; exit 1; }
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${device_targets[@]}" "${input_targets[@]}")
if ! ninja -C "$builddir" "${targets[@]/#/tests/fuzz/}" >"$builddir/build.log"; then
    tail -n 40 "$builddir/build.log" >&2
    exit 1
fi
flock -u 9

mkdir -p "$builddir/findings"
for t in "${targets[@]}"; do
    seeds=tests/fuzz/corpus/${t#fuzz-}
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    [ -d "$seeds" ] && cp "$seeds"/* "$work/"
    gen=tests/fuzz/make-${t#fuzz-}-seeds.py
    if [ -f "$gen" ]; then
        python3 "$gen" "$work"
    elif [[ " ${device_targets[*]} " == *" $t "* ]]; then
        python3 tests/fuzz/make-qtest-seeds.py "$work" "$t"
    fi
    args=(-max_total_time="$time" -max_len=65536 -timeout=10
          -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$builddir/findings/$t-")
    dict=tests/fuzz/${t#fuzz-}.dict
    [ -f "$dict" ] && args+=(-dict="$dict")
    echo "run-fuzz: $t for ${time}s"
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$builddir/tests/fuzz/$t" "${args[@]}" "$work"
    rm -rf "$work"
    trap - EXIT
done
