"""Firmware boots on -M pc under Vireo's software CPU: SeaBIOS boots GRUB's
rescue CD from the ATAPI CD-ROM, a syslinux disk with Debian's kernel to the
test guest's ready marker, memtest86+ on 2 vCPUs, iPXE from the e1000
option ROM over TFTP, and follows -boot order/menu/splash-time and bootindex.

The images come from Debian packages through tests/guest/build-pc-images.sh.
What the guests show is checked on the serial console, in SeaBIOS's debug
log (isa-debugcon on port 0x402) and in QMP screendumps, read back as text
with the VGA BIOS's own font (tests/functional/pcimages.py).

Each test skips, saying why, while Vireo lacks what it needs: SeaBIOS
reaching its boot menu stage on `pc` (one short probe boot, cached per
vireo binary), a device that `vireo -device help` does not list, or an
option or QMP command that Vireo rejects as unknown.
"""

import fcntl
import hashlib
import json
import re
import shutil
import time

import pytest

import pcimages
import vmrun
from qmp import QMPClient

ACCEL = ["-accel", "tcg"]
# Vireo's interpreter boots Debian's kernel in ~40 s with -kernel; through
# the firmware, a disk or TFTP add to that.
BOOT_TIMEOUT = 300
PROBE_TIMEOUT = 90
READY = r"VIREO-GUEST-READY"


# --- prerequisites ---------------------------------------------------------

@pytest.fixture(scope="module")
def pc_images():
    if pcimages.seabios_dir() is None:
        pytest.skip("SeaBIOS is not installed (package seabios; "
                    "scripts/install-deps.sh)")
    try:
        return pcimages.build_pc_images()
    except (pcimages.ImageBuildError, vmrun.GuestBuildError) as e:
        pytest.skip(f"cannot build the PC test images: {e}")


def _probe_key(vireo):
    st = vireo.stat()
    bios = pcimages.seabios_dir() / "bios-256k.bin"
    return hashlib.sha256(
        f"{vireo.resolve()}:{st.st_size}:{st.st_mtime_ns}:"
        f"{bios.stat().st_mtime_ns}".encode()).hexdigest()


def _run_firmware_probe(vireo, tmp_dir):
    """Boot `pc` with no disks; SeaBIOS must reach its boot stage. Returns
    (ok, reason)."""
    log = tmp_dir / "probe-seabios.log"
    args = [vireo, "-M", "pc", *ACCEL, "-m", "128", "-display", "none",
            "-serial", "none", *pcimages.debugcon_args(log)]
    with vmrun.VMProcess(args, stdin=False) as vm:
        deadline = time.monotonic() + PROBE_TIMEOUT
        while time.monotonic() < deadline and vm.proc.poll() is None:
            text = pcimages.read_log(log)
            if re.search(r"Booting from|No bootable device|Boot failed",
                         text):
                return True, "SeaBIOS reached its boot stage"
            time.sleep(0.2)
        r = vm.wait(timeout=1)
    text = pcimages.read_log(log)
    if not text:
        return False, ("SeaBIOS printed nothing on port 0x402 "
                       f"(vireo: {r.output.strip()[-300:]!r})")
    last = text.strip().splitlines()[-1][:200]
    return False, (f"SeaBIOS did not reach its boot stage in "
                   f"{PROBE_TIMEOUT}s on pc; its log ends with {last!r}")


@pytest.fixture(scope="module")
def firmware(vireo_binary, pc_images, tmp_path_factory):
    """Skips unless SeaBIOS boots far enough on Vireo's pc. The probe's
    answer is kept per vireo binary in the image cache, so parallel workers
    and reruns boot it once."""
    cache = pc_images["dir"] / "firmware-probe.json"
    key = _probe_key(vireo_binary)
    with open(pc_images["dir"] / ".probe-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            known = json.loads(cache.read_text())
        except (OSError, ValueError):
            known = {}
        if known.get("key") != key:
            ok, reason = _run_firmware_probe(
                vireo_binary, tmp_path_factory.mktemp("probe"))
            known = {"key": key, "ok": ok, "reason": reason}
            cache.write_text(json.dumps(known))
    if not known["ok"]:
        pytest.skip(f"Vireo's firmware boot is not there yet: "
                    f"{known['reason']}")
    return pc_images


def need_devices(vireo, *names):
    missing = pcimages.missing_devices(vireo, *names)
    if missing:
        pytest.skip(f"vireo -device help does not list {', '.join(missing)}"
                    " yet")


# Messages with which Vireo rejects what it does not implement (yet).
UNSUPPORTED = re.compile(
    r"^vireo: .*(invalid option|unknown option|not supported|unsupported|"
    r"not a valid device model|unknown device|has no property|"
    r"invalid parameter|unexpected parameter).*$", re.M | re.I)


def skip_if_rejected(vm, seconds=0.0):
    """When vireo exited at start-up with a "not supported" kind of error,
    skip the test naming it."""
    if seconds:
        vm.expect(r"(?!)", timeout=seconds)
    if vm.proc.poll() is None:
        return
    m = UNSUPPORTED.search(vm.output)
    if m:
        pytest.skip(f"Vireo rejects the command line: {m.group(0).strip()}")


def disk_copy(images, name, tmp_path):
    """A private copy of a disk image: the guest may write it, and no other
    user of the cached image (or its lock) gets in the way."""
    dst = tmp_path / images[name].name
    shutil.copyfile(images[name], dst)
    return dst


def pc_args(vireo, *extra, mem=256, smp=1):
    return [vireo, "-M", "pc", *ACCEL, "-m", str(mem), "-smp", str(smp),
            "-display", "none", "-serial", "stdio", "-no-reboot", *extra]


def qmp_args(sock):
    return ["-qmp", f"unix:{sock},server=on,wait=off"]


def screendump(client, path):
    """Takes a screendump into path and returns it as a pcimages.Screen;
    skips when Vireo has no screendump command yet."""
    rsp = client.execute("screendump", {"filename": str(path),
                                        "format": "ppm"})
    err = rsp.get("error", {})
    if err.get("class") == "CommandNotFound":
        pytest.skip("Vireo has no QMP screendump yet")
    if "no console" in err.get("desc", ""):
        # QEMU's answer when the machine has no display device
        pytest.skip(f"pc has no display for screendump yet: {err['desc']}")
    assert "return" in rsp, rsp
    return pcimages.load_screen(path)


def wait_for_screen(client, tmp_path, want, timeout):
    """Screendumps every second until some line of the text screen holds
    each string of `want`; returns (lines, screen) of the last one."""
    deadline = time.monotonic() + timeout
    n = 0
    while True:
        n += 1
        screen = screendump(client, tmp_path / f"screen{n % 2}.ppm")
        lines = pcimages.screen_text(screen)
        if all(pcimages.screen_has(lines, w) for w in want):
            return lines, screen
        if time.monotonic() > deadline:
            return lines, screen
        time.sleep(1)


def wait_for_log(path, pattern, timeout, vm=None):
    """Polls SeaBIOS's debug log until regex pattern matches; returns the
    match or None (also when the VM exited)."""
    rx = re.compile(pattern, re.M)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = rx.search(pcimages.read_log(path))
        if m:
            return m
        if vm is not None and vm.proc.poll() is not None:
            return rx.search(pcimages.read_log(path))
        time.sleep(0.2)
    return None


def describe(vm, log=None, lines=None):
    text = f"$ {' '.join(vm.args)}\nserial/stderr tail:\n{vm.output[-3000:]}"
    if log is not None:
        text += f"\nSeaBIOS log tail:\n{pcimages.read_log(log)[-2000:]}"
    if lines:
        text += "\nscreen:\n" + "\n".join(l.rstrip() for l in lines)
    return text


# --- the tests -------------------------------------------------------------

def test_grub_rescue_cd_shows_grub_menu(vireo_binary, firmware, tmp_path):
    """`-cdrom grub-rescue-cdrom.iso -boot d`: SeaBIOS boots the El Torito
    image from the ATAPI CD-ROM and GRUB draws its menu."""
    need_devices(vireo_binary, "ide-cd", "VGA")
    log = tmp_path / "seabios.log"
    sock = tmp_path / "qmp.sock"
    args = pc_args(vireo_binary, "-cdrom", firmware["grub_iso"], "-boot",
                   "d", *pcimages.debugcon_args(log), *qmp_args(sock))
    with vmrun.VMProcess(args, stdin=False) as vm:
        m = wait_for_log(log, r"Booting from DVD/CD\.\.\.|Boot failed|"
                         r"No bootable device", BOOT_TIMEOUT, vm)
        skip_if_rejected(vm)
        assert m and m.group(0).startswith("Booting from DVD/CD"), \
            describe(vm, log)
        vm.expect(r"(?!)", timeout=2)
        assert vm.proc.poll() is None, describe(vm, log)
        with QMPClient(sock) as client:
            lines, screen = wait_for_screen(
                client, tmp_path, ["GNU GRUB", "GNU/Linux", "Memtest86+"],
                BOOT_TIMEOUT)
        assert not screen.blank(), describe(vm, log, lines)
        assert pcimages.screen_has(lines, "GNU GRUB  version"), \
            describe(vm, log, lines)
        assert pcimages.screen_has(lines, "Memtest86+"), \
            describe(vm, log, lines)
        assert "Boot failed" not in pcimages.read_log(log), describe(vm, log)


def test_syslinux_disk_boots_debian_guest(vireo_binary, firmware, tmp_path):
    """`-drive file=disk.img,format=raw,if=ide`: SeaBIOS boots the MBR,
    syslinux loads Debian's kernel and the test initramfs from FAT, and the
    guest reaches its ready marker with its command line and an intact
    initrd."""
    need_devices(vireo_binary, "ide-hd")
    log = tmp_path / "seabios.log"
    args = pc_args(vireo_binary, "-drive",
                   f"file={disk_copy(firmware, 'linux_disk', tmp_path)},"
                   "format=raw,if=ide", *pcimages.debugcon_args(log), mem=512)
    with vmrun.VMProcess(args, stdin=False) as vm:
        skip_if_rejected(vm, 1)
        assert vm.expect(r"SYSLINUX \d", timeout=BOOT_TIMEOUT), \
            describe(vm, log)
        assert vm.expect(READY, timeout=BOOT_TIMEOUT), describe(vm, log)
        assert vm.expect(r"VIREO-INFO .*\n", timeout=60), describe(vm, log)
        info = vmrun.parse_guest_info(vm.output)
        assert info["initrd_ok"] == "1", describe(vm, log)
        assert "vireo.task=info" in info["cmdline"], describe(vm, log)
        assert "sda" in info["blk"].split(","), describe(vm, log)
        assert "Booting from Hard Disk..." in pcimages.read_log(log), \
            describe(vm, log)


def test_memtest86_starts_on_two_cpus(vireo_binary, firmware, tmp_path):
    """memtest86+ (its Linux-boot image, started by syslinux from a disk)
    with -smp 2 tests memory on both vCPUs: its screen, mirrored on the
    serial port (console=ttyS0), says so, and appears in the screendump."""
    need_devices(vireo_binary, "ide-hd")
    sock = tmp_path / "qmp.sock"
    args = pc_args(vireo_binary, "-drive",
                   f"file={disk_copy(firmware, 'memtest_disk', tmp_path)},"
                   "format=raw,if=ide", *qmp_args(sock), smp=2)
    with vmrun.VMProcess(args, stdin=False) as vm:
        skip_if_rejected(vm, 1)
        assert vm.expect(r"Loading memtest\.bin", timeout=BOOT_TIMEOUT), \
            describe(vm)
        assert vm.expect(r"Memtest86\+ v\d", timeout=BOOT_TIMEOUT), \
            describe(vm)
        # After its start-up pause memtest tests on every CPU that the
        # firmware's tables list and that answers its INIT-SIPI: "SMP: 2T"
        # is both vCPUs running its code.
        assert vm.expect(r"SMP: 2T.*Status: Testing", timeout=BOOT_TIMEOUT), \
            describe(vm)
        # its clock runs (a slow build may first show it minutes on)
        assert vm.expect(r"Time:  (?!0:00:00)\d+:\d\d:\d\d",
                         timeout=BOOT_TIMEOUT), describe(vm)
        assert not re.search(r"Errors: [1-9]", vm.output), describe(vm)
        assert vm.proc.poll() is None, describe(vm)

        need_devices(vireo_binary, "VGA")
        with QMPClient(sock) as client:
            lines, first = wait_for_screen(
                client, tmp_path, ["Memtest86+ v", "SMP: 2T"], 60)
            assert pcimages.screen_has(lines, "Memtest86+ v"), \
                describe(vm, lines=lines)
            assert pcimages.screen_has(lines, "SMP: 2T"), \
                describe(vm, lines=lines)
            # its clock and progress bars keep moving
            time.sleep(3)
            later = screendump(client, tmp_path / "later.ppm")
            assert later.rgb != first.rgb, describe(vm, lines=lines)
        assert vm.proc.poll() is None, describe(vm)


def test_ipxe_tftp_boots_debian_guest(vireo_binary, firmware, tmp_path):
    """`-nic user,model=e1000,tftp=DIR,bootfile=boot.ipxe -boot n`: iPXE
    from the e1000 option ROM gets DHCP from slirp, fetches the script and
    TFTP-boots the test kernel and initramfs to the ready marker."""
    need_devices(vireo_binary, "e1000")
    log = tmp_path / "seabios.log"
    args = pc_args(vireo_binary, "-nic",
                   f"user,model=e1000,tftp={firmware['tftp']},"
                   f"bootfile={firmware['bootfile']}", "-boot", "n",
                   *pcimages.debugcon_args(log), mem=512)
    with vmrun.VMProcess(args, stdin=False) as vm:
        skip_if_rejected(vm, 1)
        # Fail early when SeaBIOS gives up instead of waiting out the
        # timeout: iPXE runs only if SeaBIOS ran the NIC's option ROM.
        # (iPXE writes to the screen; its text reaches the serial port only
        # through SeaBIOS's serial console, so the serial output is the
        # kernel's.)
        deadline = time.monotonic() + 2 * BOOT_TIMEOUT
        while not vm.expect(READY, timeout=1):
            text = pcimages.read_log(log)
            assert "No bootable device" not in text, \
                "SeaBIOS found nothing to boot (did it run the e1000's " \
                "option ROM? look for 'Running option rom' after 'Scan " \
                "for option roms')\n" + describe(vm, log)
            assert time.monotonic() < deadline and vm.proc.poll() is None, \
                describe(vm, log)
        assert "Booting from ROM..." in pcimages.read_log(log), \
            describe(vm, log)
        assert vm.expect(r"VIREO-INFO .*\n", timeout=60), describe(vm, log)
        info = vmrun.parse_guest_info(vm.output)
        assert info["initrd_ok"] == "1", describe(vm, log)
        assert "vireo.task=info" in info["cmdline"], describe(vm, log)
        assert "eth0" in info["net"].split(","), describe(vm, log)


def _first_boot(vireo, tmp_path, name, *extra):
    """Starts pc with the syslinux disk and GRUB's CD plus `extra`, and
    returns (SeaBIOS log text up to its first boot attempt, seconds from
    "Press ESC for boot menu." to that attempt or None)."""
    log = tmp_path / f"{name}.log"
    args = pc_args(vireo, *extra, *pcimages.debugcon_args(log))
    with vmrun.VMProcess(args, stdin=False) as vm:
        skip_if_rejected(vm, 1)
        esc = wait_for_log(log, r"Press ESC for boot menu|Booting from",
                           BOOT_TIMEOUT, vm)
        skip_if_rejected(vm)
        t_esc = time.monotonic()
        m = wait_for_log(log, r"Booting from .*", BOOT_TIMEOUT, vm)
        waited = time.monotonic() - t_esc
        assert m, describe(vm, log)
        menu = esc is not None and esc.group(0).startswith("Press ESC")
        return pcimages.read_log(log)[:m.end()], (waited if menu else None)


def _disk_and_cd(f, tmp_path, bootindex_hd=None, bootindex_cd=None):
    hd = (f"file={disk_copy(f, 'linux_disk', tmp_path)},format=raw,"
          "if=none,id=hd0")
    cd = f"file={f['grub_iso']},format=raw,if=none,id=cd0,media=cdrom"
    hd_dev = "ide-hd,drive=hd0,bus=ide.0,unit=0"
    cd_dev = "ide-cd,drive=cd0,bus=ide.1,unit=0"
    if bootindex_hd is not None:
        hd_dev += f",bootindex={bootindex_hd}"
    if bootindex_cd is not None:
        cd_dev += f",bootindex={bootindex_cd}"
    return ["-drive", hd, "-device", hd_dev, "-drive", cd, "-device", cd_dev]


def test_boot_order_menu_and_splash_time(vireo_binary, firmware, tmp_path):
    """-boot order=dc,menu=on,splash-time=6000 with a disk and a CD: SeaBIOS
    offers its boot menu for 6 s, then boots the CD first; without -boot it
    boots the disk first and shows no menu."""
    need_devices(vireo_binary, "ide-hd", "ide-cd")
    drives = _disk_and_cd(firmware, tmp_path)
    text, waited = _first_boot(vireo_binary, tmp_path, "order-dc", *drives,
                               "-boot", "order=dc,menu=on,splash-time=6000")
    assert text.rstrip().endswith("Booting from DVD/CD..."), text[-2000:]
    assert waited is not None, "no 'Press ESC for boot menu.':\n" + \
        text[-2000:]
    # SeaBIOS waits splash-time ms of guest time (2.5 s when it gets
    # none), measured with a TSC it calibrated against the PIT; allow for
    # the calibration and for the log reaching the file late.
    assert waited >= 3.5, f"boot menu shown for {waited:.1f}s only"

    text, waited = _first_boot(vireo_binary, tmp_path, "default", *drives)
    assert text.rstrip().endswith("Booting from Hard Disk..."), text[-2000:]
    assert waited is None, text[-2000:]


@pytest.mark.parametrize("first", ["cd", "hd"])
def test_bootindex_picks_first_device(vireo_binary, firmware, tmp_path,
                                      first):
    """bootindex= on -device ide-hd/ide-cd decides which SeaBIOS boots."""
    need_devices(vireo_binary, "ide-hd", "ide-cd")
    idx = {"hd": (1, 2), "cd": (2, 1)}[first]
    text, _ = _first_boot(vireo_binary, tmp_path, f"bootindex-{first}",
                          *_disk_and_cd(firmware, tmp_path, *idx))
    want = {"hd": "Booting from Hard Disk...",
            "cd": "Booting from DVD/CD..."}[first]
    assert text.rstrip().endswith(want), text[-2000:]
