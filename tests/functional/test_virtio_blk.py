"""virtio-blk with the real guest: it reads a host-written random pattern,
refuses writes to a read-only drive, mounts an ext4 image and round-trips
a file, and writes a pattern with fsync that the host then finds byte for
byte after Vireo exits; it also copies the random pattern into a qcow2
overlay of a random backing file at an offset that splits clusters, and
the overlay, converted to raw, must be the backing file with the pattern
laid over it. One boot does all of it; the guest's script comes
on a disk of its own (serial "script") so the kernel command line stays
simple. On microvm (virtio-blk-device on virtio-mmio) and pc
(virtio-blk-pci with MSI-X)."""

import hashlib
import os
import re
import shutil
import subprocess

import pytest

import vmrun
from test_debian_guest import TIMEOUT, guest_args

GUEST_SCRIPT = r"""
disk() { for d in /sys/block/vd*; do
    [ "$(cat $d/serial)" = "$1" ] && echo /dev/${d##*/}; done; }
echo "SERIALS $(for s in /sys/block/vd*/serial; do printf '%s ' $(cat $s); done)"
echo "PATTERN $(sha256sum $(disk pattern) | cut -d' ' -f1)"
if dd if=/dev/zero of=$(disk pattern) bs=512 count=1 conv=fsync 2>/dev/null
then echo "RO-WRITE ok"; else echo "RO-WRITE refused"; fi
mkdir -p /mnt && mount -t ext4 $(disk ext4) /mnt && echo "MOUNTED"
echo "HOSTFILE $(cat /mnt/host.txt)"
echo guest-was-here > /mnt/guest.txt && sync && umount /mnt && echo "UMOUNTED"
printf 'written-by-the-guest' | dd of=$(disk scratch) bs=512 seek=3 \
    conv=fsync 2>/dev/null && echo "WROTE"
dd if=$(disk pattern) of=$(disk overlay) bs=512 seek=OVERLAY_SEEK conv=fsync \
    2>/dev/null && echo "OVERLAY-WROTE"
""".replace("OVERLAY_SEEK", str(OVERLAY_SEEK := 2051))


def make_disk(path, data, size=None):
    with open(path, "wb") as f:
        f.write(data)
        if size:
            f.truncate(size)


@pytest.mark.slow
@pytest.mark.parametrize("machine,device", [("microvm", "virtio-blk-device"),
                                            ("pc", "virtio-blk-pci")])
def test_virtio_blk(vireo_binary, debian_guest, tmp_path, machine, device):
    if not shutil.which("mkfs.ext4"):
        pytest.skip("mkfs.ext4 is missing (e2fsprogs)")
    if not shutil.which("qemu-img"):
        pytest.skip("qemu-img is missing (qemu-utils)")
    pattern = os.urandom(2 << 20)
    make_disk(tmp_path / "pattern.img", pattern)
    make_disk(tmp_path / "script.img", GUEST_SCRIPT.encode(), 4096)
    make_disk(tmp_path / "scratch.img", b"", 1 << 20)
    ext4 = tmp_path / "ext4.img"
    make_disk(ext4, b"", 16 << 20)
    src = tmp_path / "root"
    src.mkdir()
    (src / "host.txt").write_text("hello-from-the-host\n")
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(src), str(ext4)],
                   check=True)

    base = os.urandom(8 << 20)
    make_disk(tmp_path / "base.raw", base)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b",
                    str(tmp_path / "base.raw"), "-F", "raw",
                    str(tmp_path / "overlay.img")], check=True)

    drives = []
    for name, extra in [("script", ",format=raw,readonly=on"),
                        ("pattern", ",format=raw,readonly=on"),
                        ("ext4", ",format=raw,cache=none,aio=native"),
                        ("scratch", ",format=raw,cache=writethrough"),
                        ("overlay", ",format=qcow2")]:
        drives += ["-drive", f"file={tmp_path / name}.img,"
                   f"if=none,id={name}{extra}",
                   "-device", f"{device},drive={name},"
                   f"serial={name}"]
    cmd = ("for d in /sys/block/vd*; do [ $(cat $d/serial) = script ] && "
           "tr -d \\\\000 < /dev/${d##*/} > /s.sh; done; sh /s.sh")
    args = guest_args(vireo_binary, debian_guest, machine, 1,
                      f'console=ttyS0 vireo.task=cmd vireo.cmd="{cmd}"') + \
        drives
    r = vmrun.run_vm(args, timeout=TIMEOUT)
    out = r.output
    assert not r.timed_out and r.returncode == 0, r.describe()

    assert re.search(r"SERIALS script pattern ext4 scratch overlay", out), \
        r.describe()
    want = hashlib.sha256(pattern).hexdigest()
    assert f"PATTERN {want}" in out, r.describe()
    assert "RO-WRITE refused" in out, r.describe()
    assert "MOUNTED" in out and "HOSTFILE hello-from-the-host" in out, \
        r.describe()
    assert "UMOUNTED" in out and "WROTE" in out, r.describe()

    data = (tmp_path / "scratch.img").read_bytes()
    assert data[3 * 512:3 * 512 + 20] == b"written-by-the-guest"
    assert data[:3 * 512] == bytes(3 * 512)
    got = subprocess.run(["debugfs", "-R", "cat /guest.txt", str(ext4)],
                         capture_output=True, text=True)
    assert got.stdout.strip() == "guest-was-here", got.stderr
    e2fsck = subprocess.run(["e2fsck", "-fn", str(ext4)],
                            capture_output=True, text=True)
    assert e2fsck.returncode == 0, e2fsck.stdout + e2fsck.stderr
    # the read-only drive is untouched
    assert (tmp_path / "pattern.img").read_bytes() == pattern

    assert "OVERLAY-WROTE" in out, r.describe()
    check = subprocess.run(["qemu-img", "check", str(tmp_path / "overlay.img")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    subprocess.run(["qemu-img", "convert", "-O", "raw",
                    str(tmp_path / "overlay.img"), str(tmp_path / "out.raw")],
                   check=True)
    at = OVERLAY_SEEK * 512
    want = base[:at] + pattern + base[at + len(pattern):]
    assert (tmp_path / "out.raw").read_bytes() == want
    assert (tmp_path / "base.raw").read_bytes() == base
