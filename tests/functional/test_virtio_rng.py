"""virtio-rng with Debian's stock kernel and the busybox initramfs of
tests/guest (which loads virtio_mmio, virtio_pci and virtio-rng): on
microvm's virtio-mmio transport the guest finds the device (ACPI
"LNRO0005", or the virtio_mmio.device= command line with acpi=off), on pc
as a virtio-pci function, and reads entropy from /dev/hwrng.

Runs under KVM when the host's KVM can run a stock Linux kernel, otherwise
on Vireo's software CPU, as test_debian_guest.py does.
"""

import re

import pytest

import vmrun
from test_debian_guest import TIMEOUT, guest_args

HWRNG_CMD = ('vireo.cmd="head -c 64 /dev/hwrng | od -An -tx1 | wc -w; '
             'cat /sys/bus/virtio/devices/*/device"')


def _cmd_result(r):
    """The guest command's output lines (those before VIREO-CMD-EXIT after
    the ready marker) and its exit status."""
    lines = [ln.strip("\r").strip() for ln in r.output.splitlines()]
    start = next((i for i, ln in enumerate(lines)
                  if "VIREO-GUEST-READY" in ln), 0)
    for i, line in enumerate(lines):
        m = re.search(r"VIREO-CMD-EXIT status=(\d+)", line)
        if m:
            return lines[start + 1:i], int(m.group(1))
    return None, None


@pytest.mark.parametrize("machine,device", [("microvm", "virtio-rng-device"),
                                            ("pc", "virtio-rng-pci")])
def test_hwrng_gives_bytes(vireo_binary, debian_guest, machine, device):
    append = f"console=ttyS0 vireo.task=cmd {HWRNG_CMD}"
    r = vmrun.run_vm(guest_args(vireo_binary, debian_guest, machine, 1,
                                append) + ["-device", device],
                     timeout=TIMEOUT)
    assert not r.timed_out, r.describe()
    out, status = _cmd_result(r)
    assert status == 0, r.describe()
    out = [ln for ln in out if not ln.startswith("[")]  # kernel messages
    # 64 bytes read, and the one virtio device is the entropy device (4)
    assert out == ["64", "0x0004"], r.describe()
    if machine == "pc":
        # modern-only virtio-pci: 1af4:1040 + the device type, in the
        # first slot after the default VGA (2) and e1000 (3)
        assert "pci 0000:00:04.0: [1af4:1044]" in r.output, r.describe()
    assert r.returncode == 0, r.describe()


def test_acpi_off_describes_slot_on_cmdline(vireo_binary, debian_guest):
    """Without ACPI the kernel hears of the used slot on its command line
    (kvmtool's and Firecracker's way). Debian's kernel lacks
    CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, so only the command line is checked,
    and the VM is stopped once the kernel printed it (it could not power
    off without ACPI anyway)."""
    args = guest_args(vireo_binary, debian_guest, "microvm", 1,
                      "console=ttyS0 vireo.task=wait")
    args[args.index("microvm")] = "microvm,acpi=off"
    with vmrun.VMProcess(args + ["-device", "virtio-rng-device"]) as vm:
        m = vm.expect(r"Kernel command line:[^\n]*\n", timeout=120)
        vm.kill()
        out = vm.output
    assert m is not None, out[-4000:]
    line = m.group(0).decode(errors="replace").strip()
    assert line.split()[-1] == "virtio_mmio.device=512@0xfeb00000:5", line


def test_rng_device_needs_virtio_mmio_slot(vireo_binary, debian_guest):
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      "console=ttyS0 vireo.task=poweroff")
    r = vmrun.run_vm(args + ["-device", "virtio-rng-device"], timeout=60)
    assert r.returncode != 0, r.describe()
    assert "no free virtio-mmio slot" in r.output, r.describe()
