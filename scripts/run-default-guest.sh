#!/bin/bash
# Vireo's main job on a fresh Debian 12 machine (as root): installs the build
# dependencies, builds Vireo, builds the default guest (Debian's kernel with
# a busybox initramfs) and boots it to a shell on this terminal.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then
    ./configure
fi
ninja -C build
bash tests/guest/build-debian-guest.sh
cache=${VIREO_GUEST_CACHE:-tests/guest/cache}

machine=${MACHINE:-microvm}
if [ -d /sys/module/kvm_pvm ] || ! grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then
    echo "run-default-guest: this host's KVM cannot run a stock Linux kernel" \
         "(nested KVM without VMX/SVM, e.g. kvm_pvm); the software CPU that" \
         "runs it anyway is not built yet. Booting the KVM test kernel instead." >&2
    make -s -C tests/guest/testkernel O="$PWD/$cache/testkernel" >/dev/null
    exec build/vireo -M "$machine" -enable-kvm -cpu host -m 512 -smp 2 \
        -kernel "$cache/testkernel/testkernel.elf" -append "test=all cpus=2" \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -nographic
fi
exec build/vireo -M "$machine" -enable-kvm -cpu host -m 512 -smp 2 \
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.img" \
    -append "console=ttyS0 quiet" -nographic
