"""The ICH9 AHCI controller (-device ahci) with Debian's kernel on pc:
Linux's ahci driver finds a raw disk on port 0, a qcow2 disk on port 1
and a CD-ROM on port 2, uses NCQ, reads host-written random patterns from
both disks, writes patterns that the host then finds in the images after
Vireo exits, and reads the CD (whose ISO carries the guest's script). One
boot does all of it. SeaBIOS finds the disk on an AHCI port and boots
its MBR (the syslinux disk of pcimages) up to SYSLINUX's banner."""

import hashlib
import os
import shutil
import subprocess

import pytest

import pcimages
import vmrun
from test_debian_guest import TIMEOUT, guest_args

# Linux probes the ports in parallel, so sda/sdb may be either disk: each
# line names the disk by its size.
GUEST_SCRIPT = r"""
echo "BLOCKS $(ls /sys/block | tr '\n' ' ')"
for d in sda sdb; do
    sum=$(dd if=/dev/$d bs=65536 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
    dd if=/mnt/w.bin of=/dev/$d bs=4096 seek=512 conv=fsync 2>/dev/null || sum=write-failed
    echo 3 > /proc/sys/vm/drop_caches
    back=$(dd if=/dev/$d bs=4096 skip=512 count=64 2>/dev/null | sha256sum | cut -d' ' -f1)
    echo "DISK $(cat /sys/block/$d/size) $(cat /sys/block/$d/device/queue_depth) $sum $back"
done
echo "CDRAW $(dd if=/dev/sr0 bs=2048 count=32 2>/dev/null | sha256sum | cut -d' ' -f1)"
"""

RAW_SIZE = 8 << 20
QCOW_SIZE = 16 << 20


def _qemu_img():
    return shutil.which("qemu-img")


@pytest.mark.slow
def test_linux_ahci_disks_and_cdrom(vireo_binary, debian_guest, tmp_path):
    xorriso = shutil.which("xorriso")
    qemu_img = _qemu_img()
    if not xorriso or not qemu_img:
        pytest.skip("xorriso or qemu-img is missing (scripts/install-deps.sh)")

    raw_pattern = os.urandom(1 << 20)
    raw = tmp_path / "disk.img"
    with open(raw, "wb") as f:
        f.write(raw_pattern)
        f.truncate(RAW_SIZE)

    qcow_pattern = os.urandom(1 << 20)
    src_raw = tmp_path / "q.raw"
    with open(src_raw, "wb") as f:
        f.write(qcow_pattern)
        f.truncate(QCOW_SIZE)
    qcow = tmp_path / "disk.qcow2"
    subprocess.run([qemu_img, "convert", "-f", "raw", "-O", "qcow2",
                    str(src_raw), str(qcow)], check=True,
                   capture_output=True)

    write_data = os.urandom(64 * 4096)
    src = tmp_path / "iso"
    src.mkdir()
    (src / "s.sh").write_text(GUEST_SCRIPT)
    (src / "w.bin").write_bytes(write_data)
    iso = tmp_path / "test.iso"
    subprocess.run([xorriso, "-as", "mkisofs", "-quiet", "-R", "-o",
                    str(iso), str(src)], check=True, capture_output=True)

    cmd = ("mkdir -p /mnt && mount -t iso9660 -o ro /dev/sr0 /mnt && "
           "sh /mnt/s.sh")
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      f'console=ttyS0 vireo.task=cmd vireo.cmd="{cmd}"') + [
        "-device", "ahci,id=ahci0",
        "-drive", f"if=none,id=d0,file={raw},format=raw",
        "-device", "ide-hd,drive=d0,bus=ahci0.0",
        "-drive", f"if=none,id=d1,file={qcow},format=qcow2",
        "-device", "ide-hd,drive=d1,bus=ahci0.1",
        "-drive", f"if=none,id=cd0,file={iso},format=raw,media=cdrom",
        "-device", "ide-cd,drive=cd0,bus=ahci0.2",
    ]
    r = vmrun.run_vm(args, timeout=TIMEOUT)
    out = r.output
    assert not r.timed_out and r.returncode == 0, r.describe()

    # Linux's ahci driver, the HBA as it describes it, NCQ in use
    assert "AHCI 0001.0300 32 slots 6 ports" in out, r.describe()
    assert "NCQ (depth 32)" in out, r.describe()
    assert "QEMU HARDDISK" in out and "QEMU DVD-ROM" in out, r.describe()
    blocks = next(line for line in out.splitlines()
                  if line.startswith("BLOCKS ")).split()[1:]
    assert {"sda", "sdb", "sr0"} <= set(blocks), r.describe()
    disks = {int(f[1]): f[2:] for f in
             (line.split() for line in out.splitlines())
             if len(f) == 5 and f[0] == "DISK"}
    assert set(disks) == {RAW_SIZE // 512, QCOW_SIZE // 512}, r.describe()
    want = hashlib.sha256(write_data).hexdigest()
    for size, pattern in ((RAW_SIZE, raw_pattern), (QCOW_SIZE, qcow_pattern)):
        depth, first, back = disks[size // 512]
        assert depth == "32", r.describe()
        assert first == hashlib.sha256(pattern).hexdigest(), r.describe()
        assert back == want, r.describe()
    raw_iso = iso.read_bytes()[:32 * 2048]
    assert f"CDRAW {hashlib.sha256(raw_iso).hexdigest()}" in out, \
        r.describe()

    # from the host: the images hold what the guest wrote, and nothing moved
    img = raw.read_bytes()
    assert img[512 * 4096:512 * 4096 + len(write_data)] == write_data
    assert img[:len(raw_pattern)] == raw_pattern
    check = tmp_path / "check.raw"
    subprocess.run([qemu_img, "check", str(qcow)], check=True,
                   capture_output=True)
    subprocess.run([qemu_img, "convert", "-f", "qcow2", "-O", "raw",
                    str(qcow), str(check)], check=True, capture_output=True)
    img = check.read_bytes()
    assert img[512 * 4096:512 * 4096 + len(write_data)] == write_data
    assert img[:len(qcow_pattern)] == qcow_pattern


def test_seabios_boots_from_ahci_disk(vireo_binary, tmp_path):
    if pcimages.seabios_dir() is None:
        pytest.skip("SeaBIOS is not installed (package seabios)")
    try:
        images = pcimages.build_pc_images()
    except (pcimages.ImageBuildError, vmrun.GuestBuildError) as e:
        pytest.skip(f"cannot build the PC test images: {e}")
    disk = tmp_path / "syslinux.img"
    shutil.copyfile(images["linux_disk"], disk)
    log = tmp_path / "seabios.log"
    args = [vireo_binary, "-M", "pc", "-accel", "tcg", "-m", "256",
            "-display", "none", "-serial", "stdio", "-no-reboot",
            "-device", "ahci,id=ahci0",
            "-drive", f"if=none,id=d0,file={disk},format=raw",
            "-device", "ide-hd,drive=d0,bus=ahci0.3,bootindex=1",
            *pcimages.debugcon_args(log)]
    with vmrun.VMProcess(args, stdin=False) as vm:
        found = vm.expect(r"SYSLINUX \d", timeout=120)
        text = pcimages.read_log(log)
        assert found, vm.output + text
    assert "AHCI/3: registering" in text, text
    assert "Booting from Hard Disk" in text, text


@pytest.mark.parametrize("extra, message", [
    (["-device", "ide-hd,drive=d0,bus=ahci0.0,unit=1"],
     "a SATA port has only unit 0"),
    (["-device", "ide-hd,drive=d0,bus=ahci0.6"], "Bus 'ahci0.6' not found"),
    (["-device", "ide-hd,drive=d0,bus=ahci0.1",
      "-device", "ide-cd,drive=d1,bus=ahci0.1"], "IDE unit 0 is in use"),
])
def test_port_errors_are_clear(vireo_binary, tmp_path, extra, message):
    disk = tmp_path / "d.img"
    disk.write_bytes(bytes(1 << 20))
    args = [vireo_binary, "-M", "pc", "-accel", "qtest", "-display", "none",
            "-device", "ahci,id=ahci0",
            "-drive", f"if=none,id=d0,file={disk},format=raw",
            "-drive", "if=none,id=d1,media=cdrom", *extra]
    r = vmrun.run_vm(args, timeout=30)
    assert r.returncode == 1, r.describe()
    assert message in r.output, r.describe()
