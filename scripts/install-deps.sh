#!/bin/bash
# Installs the Debian packages Vireo needs to build, test and benchmark.
# Only asks apt when something is missing, so a rerun is quick.
set -euo pipefail

PACKAGES=(
    gcc make meson ninja-build pkg-config libglib2.0-dev libjansson-dev
    libc6-dev # glibc's static libraries: tests/bench/virtio's guest programs
    libslirp-dev
    libaio-dev
    libseccomp-dev # -sandbox, --secure
    zlib1g-dev libzstd-dev liblzma-dev liburing-dev
    qemu-utils # qemu-img: the qcow2 interoperability tests
    libpixman-1-dev libpng-dev # display surfaces, screendump
    libsdl2-dev nettle-dev libxkbcommon-dev xkb-data # SDL2 window, VNC
    xvfb xauth xdotool x11-apps imagemagick vncsnapshot # display tests
    seabios ipxe-qemu # PC firmware and NIC option ROMs
    ovmf # UEFI firmware (pflash code/vars images, tests/functional/test_ovmf.py)
    syslinux syslinux-common mtools # the test boot disk (tests/guest)
    xorriso # ISO images for the IDE CD-ROM tests
    python3 python3-pytest python3-pytest-xdist
    cpio gzip xz-utils zstd busybox-static kmod e2fsprogs
    clang
    gdb # the gdb stub tests drive the real gdb
    acpica-tools # iasl: test-fw-tables decompiles the ACPI tables
)
# for tests/bench: the QEMU that Vireo is measured against, and gnuplot for
# tests/bench/summary's chart
if [ "${VIREO_WITH_QEMU:-0}" = 1 ]; then
    PACKAGES+=(qemu-system-x86 qemu-utils gnuplot-nox)
fi

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: run as root to install packages" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
