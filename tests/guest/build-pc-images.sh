#!/bin/bash
# Builds the PC firmware-boot test images from Debian packages: GRUB's rescue
# CD, a syslinux boot disk that loads the Debian test guest, memtest86+ (its
# ISO and a syslinux disk that starts it with a serial console) and a TFTP
# folder with an iPXE script that boots the Debian test guest.
#
# Usage: tests/guest/build-pc-images.sh [--force] [--quiet]
#   VIREO_GUEST_CACHE   the guest cache (default: <repo>/tests/guest/cache);
#                       the images go to its pc/ folder
#
# Outputs in <cache>/pc/:
#   grub-rescue-cdrom.iso   GRUB's rescue CD (El Torito, no emulation), from
#                           grub-rescue-pc; grub-rescue-floppy.img too
#   memtest86+x64.iso       memtest86+'s bootable CD; memtest86+x64.bin its
#                           Linux-boot-protocol image
#   syslinux-linux.img      raw disk: syslinux's MBR, one active FAT16
#                           partition at 1 MiB with syslinux, the Debian
#                           guest's vmlinuz and initrd.img; it boots at once
#                           (no prompt) with "console=ttyS0 vireo.task=info"
#                           and has labels `linux`, `shell`, `memtest`
#   syslinux-memtest.img    the same disk without Linux, starting memtest86+
#                           with console=ttyS0,115200 (its screen mirrored on
#                           the serial port)
#   tftp/                   vmlinuz, initrd.img and boot.ipxe, an iPXE script
#                           that boots them with "console=ttyS0
#                           vireo.task=info" (use with -nic
#                           user,tftp=<cache>/pc/tftp,bootfile=boot.ipxe)
#   pc.env                  shell-style KEY=value facts (package versions,
#                           the kernel command lines)
#
# Host tools: apt-get/dpkg-deb, mtools and syslinux (scripts/install-deps.sh
# installs them). No loop mounts or root-only tools: mtools writes the FAT
# file system and syslinux's mtools installer (syslinux --offset) installs
# the boot loader into the image file.
#
# The build is cached: when this script, the package versions and the
# Debian guest are unchanged and the outputs exist, a rerun only prints
# where the files are.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VIREO_GUEST_CACHE:-$repo/tests/guest/cache}
out=$cache/pc
force=0
quiet=0
for arg in "$@"; do
    case $arg in
    --force) force=1 ;;
    --quiet) quiet=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "build-pc-images: unknown argument '$arg'" >&2
        exit 2
        ;;
    esac
done

log() { [ "$quiet" = 1 ] || echo "build-pc-images: $*" >&2; }
die() {
    echo "build-pc-images: error: $*" >&2
    exit 1
}

# The kernel command lines, shared with tests/functional/pcimages.py.
LINUX_APPEND="console=ttyS0 vireo.task=info"
SHELL_APPEND="console=ttyS0 vireo.task=shell"
MEMTEST_APPEND="console=ttyS0,115200"
PACKAGES=(grub-rescue-pc memtest86+)
SYSLINUX_MBR=/usr/lib/syslinux/mbr/mbr.bin
# Disk layout: one partition from 1 MiB to the end of the image.
PART_START=2048 # sectors

print_outputs() {
    echo "dir=$out"
    echo "grub_iso=$out/grub-rescue-cdrom.iso"
    echo "grub_floppy=$out/grub-rescue-floppy.img"
    echo "memtest_iso=$out/memtest86+x64.iso"
    echo "memtest_bin=$out/memtest86+x64.bin"
    echo "linux_disk=$out/syslinux-linux.img"
    echo "memtest_disk=$out/syslinux-memtest.img"
    echo "tftp=$out/tftp"
    echo "bootfile=boot.ipxe"
    echo "env=$out/pc.env"
}

outputs_exist() {
    local f
    for f in grub-rescue-cdrom.iso grub-rescue-floppy.img memtest86+x64.iso \
        memtest86+x64.bin syslinux-linux.img syslinux-memtest.img \
        tftp/vmlinuz tftp/initrd.img tftp/boot.ipxe pc.env stamp; do
        [ -s "$out/$f" ] || return 1
    done
}

# The Debian guest first: it has its own cache and lock.
guest_args=()
[ "$force" = 1 ] && guest_args+=(--force)
guest_args+=(--quiet)
VIREO_GUEST_CACHE=$cache "$here/build-debian-guest.sh" "${guest_args[@]}" >/dev/null ||
    die "tests/guest/build-debian-guest.sh failed"
vmlinuz=$cache/vmlinuz
initrd=$cache/initrd.img

mkdir -p "$out"
# Parallel test workers call this script at once: one builds, the rest wait.
exec 9>"$out/.lock"
flock 9

for tool in apt-get apt-cache dpkg-deb mformat mcopy mattrib syslinux; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "'$tool' is missing; run scripts/install-deps.sh as root"
done
[ -s "$SYSLINUX_MBR" ] || die "$SYSLINUX_MBR is missing (package syslinux-common);" \
    "run scripts/install-deps.sh as root"

# Fast path: no apt-cache calls when the script, apt's package lists and
# the guest are unchanged since the last build.
apt_lists_fingerprint() {
    (ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null || true) |
        grep -Ev ' (lock|partial|auxfiles)$' | sha256sum | cut -d' ' -f1
}
script_sum=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
guest_sum=$(sha256sum <"$cache/stamp" | cut -d' ' -f1)
syslinux_ver=$(dpkg-query -W -f='${Version}' syslinux 2>/dev/null || echo unknown)
quick="script=$script_sum lists=$(apt_lists_fingerprint) guest=$guest_sum syslinux=$syslinux_ver"
if [ "$force" = 0 ] && outputs_exist &&
    [ "$(cat "$out/quickstamp" 2>/dev/null)" = "$quick" ]; then
    log "up to date"
    print_outputs
    exit 0
fi

candidate_version() {
    apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }'
}
apt_updated=0
apt_update() {
    [ "$apt_updated" = 1 ] && return 0
    [ "$(id -u)" = 0 ] || die "apt-get update needs root"
    log "running apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
}

versions=()
for p in "${PACKAGES[@]}"; do
    v=$(candidate_version "$p")
    if [ -z "$v" ] || [ "$v" = "(none)" ]; then
        apt_update
        v=$(candidate_version "$p")
    fi
    if [ -z "$v" ] || [ "$v" = "(none)" ]; then
        die "apt knows no package $p"
    fi
    versions+=("$p@$v")
done
stamp="${versions[*]} script=$script_sum guest=$guest_sum syslinux=$syslinux_ver"
if [ "$force" = 0 ] && outputs_exist && [ "$(cat "$out/stamp")" = "$stamp" ]; then
    log "up to date (${versions[*]})"
    echo "$quick" >"$out/quickstamp"
    print_outputs
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vireo-pc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
# apt's sandbox user needs to write the downloads; harmless if it is absent.
chown _apt "$tmp" 2>/dev/null || true

download() {
    (cd "$tmp" && apt-get download -qq "${PACKAGES[@]}" >&2)
}
log "downloading ${versions[*]}"
if ! download; then
    apt_update
    download || die "apt-get download ${PACKAGES[*]} failed"
fi
x=$tmp/extract
mkdir -p "$x"
for deb in "$tmp"/*.deb; do
    dpkg-deb -x "$deb" "$x"
done
grub_dir=$x/usr/lib/grub-rescue
mt_bin=$x/boot/memtest86+x64.bin
mt_iso=$x/usr/lib/memtest86+/memtest86+x64.iso
for f in "$grub_dir/grub-rescue-cdrom.iso" "$grub_dir/grub-rescue-floppy.img" \
    "$mt_bin" "$mt_iso"; do
    [ -s "$f" ] || die "the packages have no ${f#"$x"}"
done

new=$tmp/pc
mkdir -p "$new/tftp"
cp "$grub_dir/grub-rescue-cdrom.iso" "$grub_dir/grub-rescue-floppy.img" \
    "$mt_bin" "$mt_iso" "$new/"

# Writes a 16-byte MBR partition entry: active, type 0x0e (FAT16 LBA),
# LBA start and sector count, CHS fields at their "use LBA" maximum.
le32() {
    printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $((($1 >> 8) & 255)) \
        $((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}
write_mbr() {
    local img=$1 sectors=$2 entry
    dd if="$SYSLINUX_MBR" of="$img" bs=440 count=1 conv=notrunc status=none
    entry="\\x80\\xfe\\xff\\xff\\x0e\\xfe\\xff\\xff$(le32 $PART_START)$(le32 $((sectors - PART_START)))"
    # shellcheck disable=SC2059
    printf "$entry" | dd of="$img" bs=1 seek=446 conv=notrunc status=none
    printf '\x55\xaa' | dd of="$img" bs=1 seek=510 conv=notrunc status=none
}

# make_disk IMAGE SIZE_MIB SYSLINUX_CFG FILE... : a bootable syslinux disk.
make_disk() {
    local img=$1 mib=$2 cfg=$3
    shift 3
    local sectors=$((mib * 2048)) offset=$((PART_START * 512))
    truncate -s 0 "$img"
    truncate -s "${mib}M" "$img"
    write_mbr "$img" "$sectors"
    # -H: hidden sectors (the partition's LBA), which syslinux's boot
    # sector adds to find its files; 16 heads, 63 sectors like SeaBIOS's
    # translation of a small disk.
    MTOOLS_SKIP_CHECK=1 mformat -i "$img@@$offset" -T $((sectors - PART_START)) \
        -h 16 -s 63 -H "$PART_START" -v VIREO :: ||
        die "mformat on $img failed"
    syslinux --install --offset "$offset" "$img" ||
        die "syslinux --install on $img failed"
    MTOOLS_SKIP_CHECK=1 mcopy -i "$img@@$offset" "$cfg" ::syslinux.cfg
    local f
    for f in "$@"; do
        MTOOLS_SKIP_CHECK=1 mcopy -i "$img@@$offset" "$f" "::$(basename "$f")"
    done
}

cat >"$tmp/linux.cfg" <<EOF
DEFAULT linux
PROMPT 0
TIMEOUT 0
SERIAL 0 115200
LABEL linux
    LINUX vmlinuz
    INITRD initrd.img
    APPEND $LINUX_APPEND
LABEL shell
    LINUX vmlinuz
    INITRD initrd.img
    APPEND $SHELL_APPEND
LABEL memtest
    LINUX memtest.bin
    APPEND $MEMTEST_APPEND
EOF
cp "$mt_bin" "$tmp/memtest.bin"
# FAT16 needs at least ~16 MiB; the guest files are ~11 MiB.
log "building syslinux-linux.img"
make_disk "$new/syslinux-linux.img" 32 "$tmp/linux.cfg" \
    "$vmlinuz" "$initrd" "$tmp/memtest.bin"

cat >"$tmp/memtest.cfg" <<EOF
DEFAULT memtest
PROMPT 0
TIMEOUT 0
SERIAL 0 115200
LABEL memtest
    LINUX memtest.bin
    APPEND $MEMTEST_APPEND
EOF
log "building syslinux-memtest.img"
make_disk "$new/syslinux-memtest.img" 16 "$tmp/memtest.cfg" "$tmp/memtest.bin"

cp "$vmlinuz" "$initrd" "$new/tftp/"
cat >"$new/tftp/boot.ipxe" <<EOF
#!ipxe
echo VIREO-IPXE-SCRIPT
kernel vmlinuz $LINUX_APPEND
initrd initrd.img
boot
EOF

cat >"$new/pc.env" <<EOF
GRUB_RESCUE_PC_VERSION=$(printf '%s\n' "${versions[@]}" | sed -n 's/^grub-rescue-pc@//p')
MEMTEST86_VERSION=$(printf '%s\n' "${versions[@]}" | sed -n 's/^memtest86+@//p')
SYSLINUX_VERSION=$syslinux_ver
LINUX_APPEND=$LINUX_APPEND
SHELL_APPEND=$SHELL_APPEND
MEMTEST_APPEND=$MEMTEST_APPEND
EOF

# Replace the outputs together; the stamps last, so an interrupted build is
# rebuilt next time.
rm -f "$out/stamp" "$out/quickstamp"
rm -rf "$out/tftp"
for f in "$new"/*; do
    mv "$f" "$out/"
done
echo "$stamp" >"$out/stamp"
echo "script=$script_sum lists=$(apt_lists_fingerprint) guest=$guest_sum syslinux=$syslinux_ver" \
    >"$out/quickstamp"
log "built ${versions[*]} images in $out"
print_outputs
