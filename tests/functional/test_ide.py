"""The PIIX3 IDE function with Debian's kernel on pc: ata_piix finds the
disk on the primary channel and the CD-ROM on the secondary one (as
QEMU's -hda and -cdrom place them), reads a host-written random pattern
from the disk, writes one that the host then finds in the image file after
Vireo exits, and mounts an ISO made with xorriso from the CD-ROM, whose
file checksum matches the host's. One boot does all of it; the guest's
script comes on the ISO itself."""

import hashlib
import os
import shutil
import subprocess

import pytest

import vmrun
from test_debian_guest import TIMEOUT, guest_args

GUEST_SCRIPT = r"""
echo "BLOCKS $(ls /sys/block | tr '\n' ' ')"
echo "HDSUM $(dd if=/dev/sda bs=512 count=2048 2>/dev/null | sha256sum | cut -d' ' -f1)"
printf 'written-by-the-guest-over-ide' | dd of=/dev/sda bs=512 seek=5000 \
    conv=fsync 2>/dev/null && echo "WROTE"
echo 3 > /proc/sys/vm/drop_caches
echo "READBACK $(dd if=/dev/sda bs=512 skip=5000 count=1 2>/dev/null | head -c 29)"
echo "ISOSUM $(sha256sum /mnt/data.bin | cut -d' ' -f1)"
echo "CDRAW $(dd if=/dev/sr0 bs=2048 count=32 2>/dev/null | sha256sum | cut -d' ' -f1)"
echo "MODEL $(cat /sys/block/sda/device/model)"
"""


@pytest.mark.slow
def test_ata_piix_disk_and_cdrom(vireo_binary, debian_guest, tmp_path):
    xorriso = shutil.which("xorriso")
    if not xorriso:
        pytest.skip("xorriso is missing (scripts/install-deps.sh)")
    pattern = os.urandom(1 << 20)
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.write(pattern)
        f.truncate(8 << 20)

    src = tmp_path / "iso"
    src.mkdir()
    data = os.urandom(300 * 1024 + 123)
    (src / "data.bin").write_bytes(data)
    (src / "s.sh").write_text(GUEST_SCRIPT)
    iso = tmp_path / "test.iso"
    subprocess.run([xorriso, "-as", "mkisofs", "-quiet", "-R", "-o",
                    str(iso), str(src)], check=True, capture_output=True)

    cmd = ("mkdir -p /mnt && mount -t iso9660 -o ro /dev/sr0 /mnt && "
           "sh /mnt/s.sh")
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      f'console=ttyS0 vireo.task=cmd vireo.cmd="{cmd}"') + \
        ["-drive", f"file={disk},if=ide,format=raw", "-cdrom", str(iso)]
    r = vmrun.run_vm(args, timeout=TIMEOUT)
    out = r.output
    assert not r.timed_out and r.returncode == 0, r.describe()

    # Linux's own driver for the chip, with bus-master DMA
    assert "ata_piix" in out, r.describe()
    assert "bmdma 0x" in out, r.describe()
    assert "QEMU HARDDISK" in out and "QEMU DVD-ROM" in out, r.describe()
    blocks = next(line for line in out.splitlines()
                  if line.startswith("BLOCKS ")).split()[1:]
    assert "sda" in blocks and "sr0" in blocks, r.describe()
    assert "MODEL QEMU HARDDISK" in out, r.describe()

    want = hashlib.sha256(pattern).hexdigest()
    assert f"HDSUM {want}" in out, r.describe()
    assert "WROTE" in out, r.describe()
    assert "READBACK written-by-the-guest-over-ide" in out, r.describe()
    img = disk.read_bytes()
    assert img[5000 * 512:5000 * 512 + 29] == b"written-by-the-guest-over-ide"
    assert img[:5000 * 512] == pattern + bytes(5000 * 512 - len(pattern))

    assert f"ISOSUM {hashlib.sha256(data).hexdigest()}" in out, r.describe()
    raw = iso.read_bytes()[:32 * 2048]
    assert f"CDRAW {hashlib.sha256(raw).hexdigest()}" in out, r.describe()
