#!/bin/bash
# Vireo's main job on a fresh Debian 12 machine (as root): installs the build
# dependencies, builds Vireo, builds the default guest (Debian's kernel with
# a busybox initramfs) and boots it to a shell on this terminal. It uses KVM
# where the host's KVM can run a stock kernel, else Vireo's software CPU, and
# says which and why. ACCEL=kvm|tcg and MACHINE=pc|microvm override.
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

# Same test as tests/functional/vmrun.py kvm_runs_stock_linux.
pick_accel() {
    if [ ! -w /dev/kvm ]; then
        reason="/dev/kvm is missing or not writable"
        accel=tcg
    elif [ -d /sys/module/kvm_pvm ]; then
        reason="/dev/kvm is the nested kvm_pvm, which cannot run a stock Linux kernel"
        accel=tcg
    elif ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
        reason="the CPU has no vmx/svm flag, so this KVM cannot run a stock Linux kernel"
        accel=tcg
    else
        reason="KVM with hardware virtualization"
        accel=kvm
    fi
}
pick_accel
if [ -n "${ACCEL:-}" ]; then
    case $ACCEL in
    kvm|tcg) ;;
    *) echo "run-default-guest: ACCEL=$ACCEL: expected kvm or tcg" >&2
       exit 1 ;;
    esac
    accel=$ACCEL
    reason="ACCEL=$ACCEL is set"
fi
if [ "$accel" = kvm ]; then
    echo "run-default-guest: booting under KVM ($reason)" >&2
    set -- -enable-kvm -cpu host
else
    echo "run-default-guest: booting on Vireo's software CPU, -accel tcg" \
         "($reason); expect about a minute to the shell" >&2
    set -- -accel tcg
fi
exec build/vireo -M "$machine" "$@" -m 512 -smp 2 \
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.img" \
    -append "console=ttyS0 quiet" -nographic
