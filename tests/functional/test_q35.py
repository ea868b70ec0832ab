"""The q35 machine with real guests.

Direct boot (one boot shared by the tests of this module): Debian's kernel
on `-M q35` finds the MCFG table and uses MMCONFIG, sees the 4 KiB
configuration space of the PCI Express root port through it, and reads and
writes a virtio-blk disk behind `-device pcie-root-port` with data checks.

Firmware: SeaBIOS finds the Q35 MCH, programs PCIEXBAR and boots the
syslinux disk from the built-in AHCI (`-drive if=ide`) up to the syslinux
banner; the test stops there to keep the run short (test_pc_firmware.py
boots the same disk to the guest on pc).
"""

import hashlib
import os
import re

import pytest

import pcimages
import vmrun
from test_debian_guest import ACCEL_ARGS, TIMEOUT

# The guest's script, on a disk of its own (serial "script"): it reports
# what Linux made of the PCI Express side, then reads and writes the disk
# with serial "data" that sits behind the root port.
GUEST_SCRIPT = r"""
disk() { for d in /sys/block/vd*; do
    [ "$(cat $d/serial)" = "$1" ] && echo ${d##*/}; done; }
echo "MCFG $(dmesg | grep -c 'PCI: MMCONFIG for domain 0000 \[bus 00-ff\] at \[mem 0xb0000000-0xbfffffff\]')"
for f in /sys/bus/pci/devices/*; do
    echo "CFG ${f##*/} $(cat $f/vendor):$(cat $f/device) $(wc -c < $f/config)"
done
d=$(disk data)
echo "DATAPATH $(readlink -f /sys/block/$d)"
echo "DATA $(dd if=/dev/$d bs=1M count=1 2>/dev/null | sha256sum | cut -d' ' -f1)"
printf 'written-behind-the-root-port' | dd of=/dev/$d bs=512 seek=7 \
    conv=fsync 2>/dev/null && echo "WROTE"
echo "SCRIPT-DONE"
"""

WRITE_AT = 7 * 512
WRITTEN = b"written-behind-the-root-port"


def make_disk(path, data, size=None):
    with open(path, "wb") as f:
        f.write(data)
        if size:
            f.truncate(size)


@pytest.fixture(scope="module")
def q35_boot(vireo_binary, debian_guest, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("q35")
    pattern = os.urandom(1 << 20)
    make_disk(tmp / "data.img", pattern, 2 << 20)
    make_disk(tmp / "script.img", GUEST_SCRIPT.encode(), 4096)
    cmd = ("for d in /sys/block/vd*; do [ $(cat $d/serial) = script ] && "
           "tr -d \\\\000 < /dev/${d##*/} > /s.sh; done; sh /s.sh")
    args = [vireo_binary, "-M", "q35", *ACCEL_ARGS, "-m", "512",
            "-kernel", debian_guest["vmlinuz"],
            "-initrd", debian_guest["initrd"],
            "-append", f'console=ttyS0 vireo.task=cmd vireo.cmd="{cmd}"',
            "-nographic",
            "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
            "-drive", f"file={tmp / 'script.img'},if=none,id=script,"
            "format=raw,readonly=on",
            "-device", "virtio-blk-pci,drive=script,serial=script",
            "-drive", f"file={tmp / 'data.img'},if=none,id=data,format=raw",
            "-device", "virtio-blk-pci,bus=rp1,drive=data,serial=data"]
    r = vmrun.run_vm([str(a) for a in args], timeout=TIMEOUT)
    return r, pattern, tmp / "data.img"


def lines(out, tag):
    return [line.strip("\r")[len(tag) + 1:] for line in out.splitlines()
            if line.startswith(tag + " ")]


def test_q35_direct_boot_powers_off(q35_boot):
    r, _, _ = q35_boot
    assert not r.timed_out and r.returncode == 0, r.describe()
    assert "VIREO-GUEST-READY" in r.output, r.describe()
    assert "SCRIPT-DONE" in r.output, r.describe()


def test_q35_linux_uses_mmconfig(q35_boot):
    r, _, _ = q35_boot
    assert lines(r.output, "MCFG") == ["1"], r.describe()
    cfg = {}
    for line in lines(r.output, "CFG"):
        bdf, ids, size = line.split()
        cfg[bdf] = (ids, int(size))
    # the MCH and the LPC bridge where QEMU's q35 has them
    assert cfg["0000:00:00.0"][0] == "0x8086:0x29c0", r.describe()
    assert cfg["0000:00:1f.0"][0] == "0x8086:0x2918", r.describe()
    # the root port is an Express function: Linux reached offsets
    # 0x100-0xfff through ECAM, else it would show 256 bytes
    ports = [v for v in cfg.values() if v[0] == "0x1b36:0x000c"]
    assert ports == [("0x1b36:0x000c", 4096)], r.describe()
    # a conventional device keeps 256 bytes
    assert cfg["0000:00:00.0"][1] == 256, r.describe()


def test_q35_virtio_blk_behind_root_port(q35_boot):
    r, pattern, data_img = q35_boot
    path = lines(r.output, "DATAPATH")
    assert path and re.search(r"/0000:00:[0-9a-f]{2}\.0/0000:01:00\.0/",
                              path[0]), r.describe()
    want = hashlib.sha256(pattern).hexdigest()
    assert lines(r.output, "DATA") == [want], r.describe()
    assert "WROTE" in r.output, r.describe()
    data = data_img.read_bytes()
    assert data[WRITE_AT:WRITE_AT + len(WRITTEN)] == WRITTEN
    assert data[:WRITE_AT] == pattern[:WRITE_AT]


@pytest.mark.parametrize("devices,error", [
    (["-M", "pc", "-device", "pcie-root-port,id=rp1"],
     "bus 'pci.0' is not a PCI Express root bus"),
    (["-M", "q35", "-device", "pcie-root-port,id=rp1,chassis=1",
      "-device", "pcie-root-port,id=rp2,bus=rp1,chassis=2"],
     "bus 'rp1' is not a PCI Express root bus"),
    (["-M", "q35", "-device", "pcie-root-port,id=rp1,chassis=1",
      "-device", "pcie-root-port,id=rp2,chassis=1"],
     "chassis 1 slot 0 is taken by another port"),
    (["-M", "q35", "-device", "pcie-root-port,id=rp1,chassis=256"],
     "out of range"),
    (["-M", "q35", "-device", "pcie-root-port,id=rp1,chassis=1",
      "-device", "pcie-root-port,id=rp1,chassis=2"],
     "rp1"),
])
def test_q35_root_port_errors(vireo_binary, devices, error):
    """Misplaced or clashing root ports are refused with a clear message."""
    r = vmrun.run_vm([str(vireo_binary), "-accel", "qtest", "-display",
                      "none", *devices], timeout=30)
    assert r.returncode == 1, r.describe()
    assert error in r.output, r.describe()


def test_q35_in_machine_help(vireo_binary):
    r = vmrun.run_vm([str(vireo_binary), "-machine", "help"], timeout=30)
    assert re.search(r"^q35 +Standard PC \(Q35 \+ ICH9, 2009\)", r.output,
                     re.M), r.describe()


@pytest.mark.slow
def test_q35_seabios_boots_syslinux_from_ahci(vireo_binary, tmp_path):
    if pcimages.seabios_dir() is None:
        pytest.skip("SeaBIOS is not installed (package seabios; "
                    "scripts/install-deps.sh)")
    missing = pcimages.missing_devices(vireo_binary, "ahci", "ide-hd")
    if missing:
        pytest.skip(f"vireo lacks {', '.join(missing)}")
    try:
        images = pcimages.build_pc_images()
    except (pcimages.ImageBuildError, vmrun.GuestBuildError) as e:
        pytest.skip(f"cannot build the PC test images: {e}")
    disk = tmp_path / "disk.img"
    disk.write_bytes(images["linux_disk"].read_bytes())
    log = tmp_path / "seabios.log"
    args = [str(vireo_binary), "-M", "q35", "-accel", "tcg", "-m", "512",
            "-nographic", "-drive", f"file={disk},format=raw,if=ide",
            *pcimages.debugcon_args(log)]
    with vmrun.VMProcess(args, stdin=False) as vm:
        found = vm.expect(r"SYSLINUX \d", timeout=300)
        text = pcimages.read_log(log)
        assert found, vm.output + text
    assert "Running on QEMU (q35)" in text, text
    assert "PCIe: using q35 mmconfig at 0xb0000000" in text, text
    assert "AHCI controller at 00:1f.2" in text, text
    assert "Booting from Hard Disk..." in text, text
