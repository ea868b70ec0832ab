#!/bin/bash
# Builds Vireo's default test guest from Debian packages: the stock kernel that
# linux-image-amd64 depends on, and a busybox initramfs whose /init loads the
# virtio/storage/network modules of that same kernel, starts a watcher for the
# ACPI power button, prints a ready marker and runs the task named on the
# kernel command line (vireo.task=...).
#
# Usage: tests/guest/build-debian-guest.sh [--force] [--quiet]
#   VIREO_GUEST_CACHE   output folder (default: <repo>/tests/guest/cache)
#   VIREO_GUEST_COMPRESS  zstd (default when the kernel supports it) or gzip
#
# Outputs in the cache folder:
#   vmlinuz       the kernel (bzImage)
#   initrd.img    the initramfs (newc cpio, compressed)
#   guest.env     shell-style KEY=value facts about the build (versions, the
#                 sha256 that the guest reports as initrd_sha256, ...)
#
# Guest tasks (kernel command line):
#   vireo.task=shell     (default) interactive shell on the console; power off
#                        when it exits
#   vireo.task=info      print one line
#                          VIREO-INFO cpus=N mem_kb=N initrd_ok=0|1
#                          initrd_sha256=H kernel=R blk=a,b net=a,b
#                          virtio=ids pci=N cmdline=<rest of the line>
#                        then power off
#   vireo.task=poweroff  power off at once;  vireo.task=reboot  reboot at once
#   vireo.task=panic     crash the kernel (sysrq c), for pvpanic tests
#   vireo.task=cmd:WORD  or  vireo.task=cmd vireo.cmd="shell command"
#                        run it, print VIREO-CMD-EXIT status=N, power off
#   vireo.task=wait      do nothing after the ready marker: wait for the power
#                        button (or a test's other action)
#   vireo.task=efivar    print the VIREO-INFO line, mount efivarfs (UEFI boots)
#                        and run these words of the command line in order:
#                          vireo.efivar.set=NAME-GUID=TEXT  store TEXT as a
#                            new non-volatile variable (NV|BS|RT); prints
#                            VIREO-EFIVAR-SET name=NAME-GUID status=N
#                          vireo.efivar.get=NAME-GUID  prints
#                            VIREO-EFIVAR name=NAME-GUID attr=N data=HEX
#                            (or ... missing)
#                          vireo.efivar.rm=NAME-GUID  delete the variable
#                            (clearing the immutable flag efivarfs gives
#                            it); prints VIREO-EFIVAR-RM name=... status=N
#                        then VIREO-EFIVAR-DONE (VIREO-EFIVAR-UNAVAILABLE
#                        reason=... when efivarfs cannot be mounted), power off
# Under every task, pressing the ACPI power button (QMP system_powerdown) makes
# the guest print VIREO-POWER-BUTTON, sync and power off. The watcher (busybox
# acpid on /dev/input/event*, driven by the kernel's button and evdev modules)
# is running when VIREO-GUEST-READY is printed; if it cannot start, /init
# prints VIREO-POWER-BUTTON-UNAVAILABLE before the ready marker.
# Module parameters given as <module>.<param>=<value> on the command line are
# passed to insmod (e.g. virtio_mmio.device=...).
# Some modules are in the initramfs but not loaded at boot (so that the
# boots of other tests stay as fast): a test loads them with modprobe, e.g.
# `modprobe bochs` (the DRM driver of the std VGA, fbcon on top).
#
# The build is cached: when the package versions and this script are unchanged
# and the outputs exist, a rerun only prints where the files are.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VIREO_GUEST_CACHE:-$repo/tests/guest/cache}
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
        echo "build-debian-guest: unknown argument '$arg'" >&2
        exit 2
        ;;
    esac
done

# Modules the guest loads at boot (file names without .ko); their
# dependencies come from the kernel's own modules.dep.
guest_modules=(
    virtio_pci virtio_mmio virtio_blk virtio_net virtio_console virtio-rng
    virtio_balloon virtio_scsi virtio_input vmw_vsock_virtio_transport
    e1000 ata_piix ahci sd_mod sr_mod ext4 isofs crc32c_generic
    pvpanic-mmio pvpanic-pci
    button evdev
)
# Modules in the initramfs (with their dependencies) that /init does not
# load: `modprobe NAME` in the guest.
guest_available_modules=(
    bochs
    efivarfs
)

log() { [ "$quiet" = 1 ] || echo "build-debian-guest: $*" >&2; }
die() {
    echo "build-debian-guest: error: $*" >&2
    exit 1
}

apt_updated=0
apt_update() {
    [ "$apt_updated" = 1 ] && return 0
    log "running apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
}

# Installs the Debian packages that provide missing host tools.
need_tools() {
    local missing=() tool pkg
    for pair in "$@"; do
        tool=${pair%%:*}
        pkg=${pair#*:}
        command -v "$tool" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing tools; install as root: ${missing[*]}"
    apt_update
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
}

# Prints the kernel package linux-image-amd64 depends on.
kernel_package() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

candidate_version() {
    apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }'
}

mkdir -p "$cache"
# Parallel test workers call this script at once: one builds, the rest wait.
exec 9>"$cache/.lock"
flock 9

need_tools apt-cache:apt dpkg-deb:dpkg

outputs_exist() {
    [ -s "$cache/vmlinuz" ] && [ -s "$cache/initrd.img" ] && [ -s "$cache/guest.env" ]
}
print_outputs() {
    echo "vmlinuz=$cache/vmlinuz"
    echo "initrd=$cache/initrd.img"
    echo "env=$cache/guest.env"
}

# The package lists as of now (their names, sizes and times), without the
# lock and partial/ that other apt runs touch.
apt_lists_fingerprint() {
    (ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null || true) |
        grep -Ev ' (lock|partial|auxfiles)$' | sha256sum | cut -d' ' -f1
}

# Fast path: apt-cache takes about half a second per call, so when neither
# this script nor apt's package lists changed since the last build, the
# package versions cannot have changed either.
script_sum=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
lists_sum=$(apt_lists_fingerprint)
quick="script=$script_sum lists=$lists_sum compress=${VIREO_GUEST_COMPRESS:-auto}"
if [ "$force" = 0 ] && outputs_exist && [ -s "$cache/stamp" ] &&
    [ "$(cat "$cache/quickstamp" 2>/dev/null)" = "$quick" ]; then
    log "up to date ($(sed -n 's/^KERNEL_PACKAGE=//p' "$cache/guest.env"))"
    print_outputs
    exit 0
fi

kpkg=$(kernel_package || true)
if [ -z "$kpkg" ]; then
    apt_update
    kpkg=$(kernel_package || true)
fi
[ -n "$kpkg" ] || die "cannot resolve the kernel package of linux-image-amd64"
kver=$(candidate_version "$kpkg")
bver=$(candidate_version busybox-static)
stamp="kernel=$kpkg@$kver busybox=$bver script=$script_sum compress=${VIREO_GUEST_COMPRESS:-auto}"

if [ "$force" = 0 ] && outputs_exist && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ]; then
    log "up to date ($kpkg $kver, busybox-static $bver)"
    echo "$quick" >"$cache/quickstamp"
    print_outputs
    exit 0
fi

need_tools cpio:cpio gzip:gzip

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vireo-guest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
# apt's sandbox user needs to write the downloads; harmless if it is absent.
chown _apt "$tmp" 2>/dev/null || true

download() {
    (cd "$tmp" && apt-get download -qq "$kpkg" busybox-static >&2)
}
log "downloading $kpkg $kver and busybox-static $bver"
if ! download; then
    apt_update
    if ! download; then
        if outputs_exist; then
            log "warning: apt-get download failed; keeping the existing guest"
            print_outputs
            exit 0
        fi
        die "apt-get download $kpkg busybox-static failed"
    fi
fi

x=$tmp/extract
mkdir -p "$x"
for deb in "$tmp"/*.deb; do
    dpkg-deb -x "$deb" "$x"
done
kernel_release=$(ls "$x/lib/modules")
[ "$(echo "$kernel_release" | wc -l)" = 1 ] || die "expected one kernel in $kpkg"
kconfig=$x/boot/config-$kernel_release
bb=$x/bin/busybox
[ -x "$bb" ] || die "busybox-static has no bin/busybox"

compress=${VIREO_GUEST_COMPRESS:-auto}
if [ "$compress" = auto ]; then
    compress=gzip
    if grep -q '^CONFIG_RD_ZSTD=y' "$kconfig"; then
        need_tools zstd:zstd
        compress=zstd
    fi
fi
case $compress in
zstd) need_tools zstd:zstd ;;
gzip) ;;
*) die "VIREO_GUEST_COMPRESS must be zstd or gzip, not '$compress'" ;;
esac

# --- the initramfs tree ---------------------------------------------------
root=$tmp/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,mnt}
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
"$bb" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    ln -sf /bin/busybox "$root/$applet"
done
# A console for the kernel to open before /init runs (needs root for mknod;
# /init reopens /dev/console from devtmpfs otherwise).
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$root/dev/null" c 1 3 2>/dev/null || true
grep -qx acpid <<<"$("$bb" --list)" || die "busybox-static has no acpid applet"

# Modules: resolve dependencies with the kernel's modules.dep (busybox depmod
# writes it, so no kmod is needed on the host) and order them deps-first.
moddir=$x/lib/modules/$kernel_release
"$bb" depmod -b "$x" "$kernel_release"
declare -A dep_of=() path_of=() loaded=()
while IFS= read -r line; do
    mod=${line%%:*}
    deps=${line#*:}
    name=$(basename "$mod")
    name=${name%%.ko*}
    name=${name//-/_}
    path_of[$name]=$mod
    dep_of[$name]=$deps
done <"$moddir/modules.dep"

load_order=()
visit() {
    local name=$1 dep dname
    [ -n "${loaded[$name]:-}" ] && return 0
    loaded[$name]=1
    for dep in ${dep_of[$name]}; do
        dname=$(basename "$dep")
        dname=${dname%%.ko*}
        visit "${dname//-/_}"
    done
    load_order+=("$name")
}
visit_modules() {
    local m n
    for m in "$@"; do
        n=${m//-/_}
        if [ -z "${path_of[$n]:-}" ]; then
            if grep -q "/$m.ko" "$moddir/modules.builtin"; then
                continue
            fi
            die "module $m is not in $kpkg"
        fi
        visit "$n"
    done
}
visit_modules "${guest_modules[@]}"
nboot=${#load_order[@]}
# the available-only modules and those of their dependencies not loaded
# at boot go after them in load_order, but not in vireo.load
visit_modules "${guest_available_modules[@]}"

for n in "${load_order[@]}"; do
    case ${path_of[$n]} in
    *.ko.xz) need_tools xz:xz-utils ;;
    *.ko.zst) need_tools zstd:zstd ;;
    esac
done

gmoddir=$root/lib/modules/$kernel_release
mkdir -p "$gmoddir"
: >"$gmoddir/vireo.load"
i=0
for n in "${load_order[@]}"; do
    i=$((i + 1))
    rel=${path_of[$n]}
    mkdir -p "$gmoddir/$(dirname "$rel")"
    case $rel in
    *.ko.xz) xz -dc "$moddir/$rel" >"$gmoddir/${rel%.xz}"; rel=${rel%.xz} ;;
    *.ko.zst) zstd -qdc "$moddir/$rel" >"$gmoddir/${rel%.zst}"; rel=${rel%.zst} ;;
    *.ko.gz) gzip -dc "$moddir/$rel" >"$gmoddir/${rel%.gz}"; rel=${rel%.gz} ;;
    *) cp "$moddir/$rel" "$gmoddir/$rel" ;;
    esac
    [ "$i" -le "$nboot" ] && echo "$n $rel" >>"$gmoddir/vireo.load"
done
cp "$moddir/modules.builtin" "$moddir/modules.order" "$gmoddir/"
# A modules.dep for the subset, so busybox modprobe works inside the guest.
"$bb" depmod -b "$root" "$kernel_release"

# Identity and an integrity blob: the guest hashes the blob (stored last in
# the archive) and compares with the hash recorded in /etc/vireo-guest-id, so
# a truncated or corrupted initrd load shows as initrd_ok=0.
head -c 262144 /dev/urandom >"$tmp/blob"
blob_sum=$(sha256sum "$tmp/blob" | cut -d' ' -f1)
cat >"$root/etc/vireo-guest-id" <<EOF
VIREO_GUEST=debian-busybox
KERNEL_PACKAGE=$kpkg
KERNEL_VERSION=$kver
KERNEL_RELEASE=$kernel_release
BUSYBOX_VERSION=$bver
BLOB_SHA256=$blob_sum
EOF
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
echo 'PS1="vireo-guest:\w# "' >"$root/etc/profile"

# The power button: the kernel's button driver turns the ACPI fixed power
# button event into KEY_POWER on an evdev device; busybox acpid's built-in
# map names that event "button/power PWRF 00000080", its built-in action
# table turns PWRF into PWRF/00000080, a file it runs from its config
# directory (/etc/acpi).
mkdir -p "$root/etc/acpi/PWRF"
cat >"$root/etc/acpi/PWRF/00000080" <<'PWRF'
#!/bin/sh
# Run by acpid when the ACPI power button is pressed.
echo "VIREO-POWER-BUTTON" >/dev/console
sync
poweroff -f
echo "VIREO-POWEROFF-FAILED" >/dev/console
PWRF
chmod 755 "$root/etc/acpi/PWRF/00000080"

# clear-immutable FILE: `chattr -i` (busybox has no chattr), so the guest
# can delete a UEFI variable, which efivarfs makes immutable. Freestanding
# (raw system calls, no C library); a host without a C compiler builds
# the guest without it and vireo.efivar.rm reports status=127.
cat >"$tmp/clear-immutable.c" <<'CSRC'
#define SYS_WRITE 1
#define SYS_OPEN 2
#define SYS_CLOSE 3
#define SYS_IOCTL 16
#define SYS_EXIT 60
#define O_NONBLOCK 04000
#define FS_IOC_GETFLAGS 0x80086601L     /* _IOR('f', 1, long) */
#define FS_IOC_SETFLAGS 0x40086602L     /* _IOW('f', 2, long) */
#define FS_IMMUTABLE_FL 0x10

static long sys3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return r;
}

/* 0 or an errno */
static int clear_immutable(const char *path)
{
    int flags = 0;
    long fd = sys3(SYS_OPEN, (long)path, O_NONBLOCK, 0);
    long r;

    if (fd < 0) {
        return -fd;
    }
    r = sys3(SYS_IOCTL, fd, FS_IOC_GETFLAGS, (long)&flags);
    if (r == 0 && (flags & FS_IMMUTABLE_FL)) {
        flags &= ~FS_IMMUTABLE_FL;
        r = sys3(SYS_IOCTL, fd, FS_IOC_SETFLAGS, (long)&flags);
    }
    sys3(SYS_CLOSE, fd, 0, 0);
    return -r;
}

__attribute__((used)) static void start(long *sp)
{
    static const char msg[] = "clear-immutable: failed\n";
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    int status = argc < 2 ? 22 : 0;

    for (long i = 1; i < argc; i++) {
        int err = clear_immutable(argv[i]);
        if (err) {
            sys3(SYS_WRITE, 2, (long)msg, sizeof(msg) - 1);
            status = err;
        }
    }
    sys3(SYS_EXIT, status, 0, 0);
}

__asm__(".globl _start\n_start:\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n"
        "\tcall start\n\thlt\n");
CSRC
if command -v cc >/dev/null 2>&1 &&
    cc -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie \
        -Os -o "$root/bin/clear-immutable" "$tmp/clear-immutable.c" >&2; then
    :
else
    log "warning: no C compiler: the guest has no clear-immutable"
    rm -f "$root/bin/clear-immutable"
fi

cat >"$root/init" <<'INIT'
#!/bin/sh
# /init of the Vireo test guest (generated by tests/guest/build-debian-guest.sh).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec 0<>/dev/console 1>&0 2>&0
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run

read -r cmdline </proc/cmdline
task=shell
for word in $cmdline; do
    case $word in
    vireo.task=*) task=${word#vireo.task=} ;;
    esac
done

# Load the modules deps-first, passing <module>.<param>=<value> words from
# the command line as insmod parameters, as modprobe would.
release=$(uname -r)
while read -r name path; do
    params=
    for word in $cmdline; do
        case $word in
        *.*=*)
            mod=${word%%.*}
            [ "$(echo "$mod" | tr - _)" = "$name" ] && params="$params ${word#*.}"
            ;;
        esac
    done
    insmod "/lib/modules/$release/$path" $params ||
        echo "vireo-init: insmod $name failed"
done <"/lib/modules/$release/vireo.load"

# The power button watcher, for every task (see /etc/acpi/PWRF/00000080).
# acpid opens /dev/input/event0, 1, ... when it starts, so it starts after
# the modules (button, evdev) are loaded; it writes its pid file once it
# listens, and the ready marker waits for that.
start_power_button_watcher() {
    grep -qs '^Power Button$' /sys/class/input/input*/name || return 1
    acpid -f -c /etc/acpi -l /run/acpid.log -p /run/acpid.pid &
    pid=$!
    i=0
    while [ ! -s /run/acpid.pid ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        i=$((i + 1))
        [ "$i" -le 500 ] || return 1
        usleep 10000
    done
}
start_power_button_watcher || echo "VIREO-POWER-BUTTON-UNAVAILABLE"

read -r up _ </proc/uptime
echo "VIREO-GUEST-READY uptime=$up"

power_off() {
    sync
    poweroff -f
    echo "VIREO-POWEROFF-FAILED"
    while :; do sleep 3600; done
}

list_class() {
    ls "$1" 2>/dev/null | grep -v "^$2\$" | tr '\n' ',' | sed 's/,$//'
}

task_info() {
    cpus=$(nproc)
    mem_kb=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
    expect=$(sed -n 's/^BLOB_SHA256=//p' /etc/vireo-guest-id)
    got=$(sha256sum /etc/vireo-guest-blob | cut -d' ' -f1)
    ok=0
    [ -n "$got" ] && [ "$got" = "$expect" ] && ok=1
    virtio=$(cat /sys/bus/virtio/devices/*/device 2>/dev/null |
        sed 's/^0x0*//' | tr '\n' ',' | sed 's/,$//')
    pci=$(ls /sys/bus/pci/devices 2>/dev/null | wc -l)
    blk=$(ls /sys/block 2>/dev/null | grep -Ev '^(loop|ram)' | tr '\n' ',' | sed 's/,$//')
    net=$(list_class /sys/class/net lo)
    echo "VIREO-INFO cpus=$cpus mem_kb=$mem_kb initrd_ok=$ok initrd_sha256=$got" \
        "kernel=$release blk=$blk net=$net virtio=$virtio pci=$pci cmdline=$cmdline"
}

run_cmd() {
    sh -c "$1"
    echo "VIREO-CMD-EXIT status=$?"
}

# vireo.task=efivar: UEFI variables through efivarfs, whose files hold a
# variable's 4-byte attributes (little-endian) followed by its data.
efivars=/sys/firmware/efi/efivars
efivar_get() {
    if [ ! -e "$efivars/$1" ]; then
        echo "VIREO-EFIVAR name=$1 missing"
        return
    fi
    # one read of the whole file (efivarfs does not seek): attr, then data
    hex=$(od -An -tx1 -v "$efivars/$1" | tr -d ' \n')
    attr=$(od -An -tu4 -N4 "$efivars/$1" | tr -d ' ')
    echo "VIREO-EFIVAR name=$1 attr=$attr data=${hex#????????}"
}
efivar_set() {
    # attributes and data must reach efivarfs in one write(): dd, one block
    printf '\007\000\000\000%s' "$2" >/tmp/efivar
    if err=$(dd if=/tmp/efivar of="$efivars/$1" bs=4096 2>&1); then
        echo "VIREO-EFIVAR-SET name=$1 status=0"
    else
        echo "VIREO-EFIVAR-SET name=$1 status=$? error=$(echo "$err" |
            grep -v records | head -1 | tr ' ' _)"
    fi
}
efivar_rm() {
    if err=$({ clear-immutable "$efivars/$1" && rm "$efivars/$1"; } 2>&1); then
        echo "VIREO-EFIVAR-RM name=$1 status=0"
    else
        echo "VIREO-EFIVAR-RM name=$1 status=$? error=$(echo "$err" |
            head -1 | tr ' ' _)"
    fi
}
task_efivar() {
    task_info
    if [ ! -d /sys/firmware/efi ]; then
        echo "VIREO-EFIVAR-UNAVAILABLE reason=not-uefi"
        return
    fi
    modprobe efivarfs 2>/dev/null
    if ! mount -t efivarfs efivarfs "$efivars"; then
        echo "VIREO-EFIVAR-UNAVAILABLE reason=mount"
        return
    fi
    for word in $cmdline; do
        case $word in
        vireo.efivar.set=*=*)
            v=${word#vireo.efivar.set=}
            efivar_set "${v%%=*}" "${v#*=}"
            ;;
        vireo.efivar.get=*) efivar_get "${word#vireo.efivar.get=}" ;;
        vireo.efivar.rm=*) efivar_rm "${word#vireo.efivar.rm=}" ;;
        esac
    done
    sync
    echo "VIREO-EFIVAR-DONE"
}

case $task in
shell)
    setsid cttyhack sh -l
    power_off
    ;;
info)
    task_info
    power_off
    ;;
poweroff) power_off ;;
reboot)
    reboot -f
    echo "VIREO-REBOOT-FAILED"
    ;;
panic)
    echo 1 >/proc/sys/kernel/sysrq
    echo c >/proc/sysrq-trigger
    ;;
cmd)
    # vireo.cmd="..." (the kernel keeps the quotes in /proc/cmdline)
    c=$(sed -n 's/.*vireo\.cmd="\([^"]*\)".*/\1/p' /proc/cmdline)
    [ -n "$c" ] || c=$(sed -n 's/.*vireo\.cmd=\([^ ]*\).*/\1/p' /proc/cmdline)
    run_cmd "$c"
    power_off
    ;;
cmd:*)
    run_cmd "${task#cmd:}"
    power_off
    ;;
wait) ;;
efivar)
    task_efivar
    power_off
    ;;
*)
    echo "vireo-init: unknown vireo.task=$task; starting a shell"
    setsid cttyhack sh -l
    power_off
    ;;
esac
while :; do sleep 3600; done
INIT
chmod 755 "$root/init"

# --- pack ----------------------------------------------------------------
# The blob goes last so that any truncation of the loaded image hits it.
cp "$tmp/blob" "$root/etc/vireo-guest-blob"
case $compress in
zstd) compressor=(zstd -q -19 -T0 -c) ;;
gzip) compressor=(gzip -9 -n -c) ;;
esac
(
    cd "$root"
    find . ! -path ./etc/vireo-guest-blob | LC_ALL=C sort
    echo ./etc/vireo-guest-blob
) | (cd "$root" && cpio -o -H newc -R 0:0 --quiet) | "${compressor[@]}" >"$tmp/initrd.img"

cp "$x/boot/vmlinuz-$kernel_release" "$tmp/vmlinuz"
cat >"$tmp/guest.env" <<EOF
KERNEL_PACKAGE=$kpkg
KERNEL_VERSION=$kver
KERNEL_RELEASE=$kernel_release
BUSYBOX_VERSION=$bver
INITRD_COMPRESSION=$compress
INITRD_SHA256=$blob_sum
MODULES=${load_order[*]:0:$nboot}
AVAILABLE_MODULES=${load_order[*]:$nboot}
EOF
# Replace the outputs together; the stamp last, so an interrupted build
# is rebuilt next time.
rm -f "$cache/stamp" "$cache/quickstamp"
mv "$tmp/vmlinuz" "$cache/vmlinuz"
mv "$tmp/initrd.img" "$cache/initrd.img"
mv "$tmp/guest.env" "$cache/guest.env"
echo "$stamp" >"$cache/stamp"
# apt-get update may have run above: fingerprint the lists as they are now.
lists_sum=$(apt_lists_fingerprint)
echo "script=$script_sum lists=$lists_sum compress=${VIREO_GUEST_COMPRESS:-auto}" >"$cache/quickstamp"
log "built $kpkg $kver ($kernel_release), busybox-static $bver," \
    "$nboot modules loaded at boot, $((${#load_order[@]} - nboot)) more" \
    "available, $compress initrd of $(du -k "$cache/initrd.img" | cut -f1) KiB"
print_outputs
