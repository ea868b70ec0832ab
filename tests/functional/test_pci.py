"""PCI on the pc machine: Debian's stock kernel (tests/guest) enumerates the
i440FX host bridge, the PIIX3 ISA bridge and pci-testdev devices given with
-device, assigns their BARs from the PCI0 windows of the DSDT without
complaining about the host bridge; query-pci and `info pci` answer in QEMU
7.2's shape (compared with Debian's QEMU when it is installed); bad
-device addresses are clear errors."""

import re
import shutil
import subprocess

import pytest

from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
import vmrun

TESTDEVS = ["-device", "pci-testdev,id=t1",
            "-device", "pci-testdev,addr=5,msix-vectors=4,intx=on,msi=on"]

# dmesg lines that would mean the firmware tables or the bridge are wrong
BAD_DMESG = [
    r"pci.*can't claim",
    r"no compatible bridge window",
    r"pci.*conflict",
    r"PCI.*not found",
    r"failed to assign",
    r"pci_root.*error",
    r"PNP0A03.*(?:ignor|error|invalid)",
]


@pytest.mark.slow
def test_debian_guest_enumerates_pci_devices(vireo_binary, debian_guest):
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      "console=ttyS0 vireo.task=info") + TESTDEVS
    r = vmrun.run_vm(args, timeout=TIMEOUT)
    assert not r.timed_out, r.describe()
    info = vmrun.parse_guest_info(r.output)
    assert info is not None, r.describe()
    # 00:00.0 host bridge, 00:01.0 ISA bridge, 00:01.1 IDE, 00:01.3 PIIX4
    # PM, 00:02.0 VGA, 00:03.0 e1000, 00:04.0 and 00:05.0 testdevs
    assert info["pci"] == "8", r.describe()
    out = r.output
    assert "ACPI: PCI Root Bridge [PCI0]" in out, r.describe()
    assert "PCI: Using ACPI for IRQ routing" in out, r.describe()
    for bdf, ids in [("00:00.0", "8086:1237"), ("00:01.0", "8086:7000"),
                     ("00:01.1", "8086:7010"), ("00:01.3", "8086:7113"),
                     ("00:02.0", "1234:1111"), ("00:03.0", "8086:100e"),
                     ("00:04.0", "1b36:0005"), ("00:05.0", "1b36:0005")]:
        assert f"pci 0000:{bdf}: [{ids}]" in out, r.describe()
    # Linux assigned every BAR inside the windows the DSDT describes
    assigned = re.findall(r"pci 0000:00:0[2-5]\.0: BAR (\d) "
                          r"\[(mem|io) +0x([0-9a-f]+)-0x([0-9a-f]+)\]"
                          r"(?:: assigned)?\s*$", out, re.M)
    bars = {(m[0], m[1]): int(m[2], 16) for m in assigned
            if int(m[2], 16) != 0}
    assert len(bars) >= 3, r.describe()
    for (_, kind), start in bars.items():
        if kind == "mem":
            assert 0xc0000000 <= start < 0xfec00000, r.describe()
        else:
            assert 0x1000 <= start <= 0xffff, r.describe()
    for pat in BAD_DMESG:
        assert not re.search(pat, out, re.I), (pat, r.describe())
    assert r.returncode == 0, r.describe()


def _start(vireo_binary, debian_guest, tmp_path, machine, extra):
    sock = tmp_path / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, machine, 1,
                      "console=ttyS0") + \
        ["-S", "-qmp", f"unix:{sock},server=on,wait=off"] + extra
    return vmrun.VMProcess(args), sock


def test_query_pci_and_info_pci(vireo_binary, debian_guest, tmp_path):
    vm, sock = _start(vireo_binary, debian_guest, tmp_path, "pc", TESTDEVS)
    with vm, QMPClient(sock) as c:
        buses = c.cmd("query-pci")
        text = c.hmp("info pci")
    assert [b["bus"] for b in buses] == [0]
    devs = {(d["slot"], d["function"]): d for d in buses[0]["devices"]}
    # QEMU's layout: IDE at 1.1, PIIX4 PM at 1.3, the default VGA at 2 and
    # e1000 at 3
    assert sorted(devs) == [(0, 0), (1, 0), (1, 1), (1, 3), (2, 0), (3, 0),
                            (4, 0), (5, 0)]

    host = devs[(0, 0)]
    assert host["class_info"] == {"class": 0x0600, "desc": "Host bridge"}
    assert host["id"] == {"vendor": 0x8086, "device": 0x1237,
                          "subsystem-vendor": 0x1af4, "subsystem": 0x1100}
    assert host["regions"] == [] and host["irq_pin"] == 0
    assert "irq" not in host
    assert devs[(1, 0)]["class_info"]["desc"] == "ISA bridge"
    assert devs[(1, 0)]["id"]["device"] == 0x7000

    t1 = devs[(4, 0)]
    assert t1["qdev_id"] == "t1"
    assert t1["class_info"] == {"class": 0x00ff}
    assert t1["regions"] == [
        {"bar": 0, "type": "memory", "address": -1, "size": 4096,
         "prefetch": False, "mem_type_64": False},
        {"bar": 1, "type": "io", "address": -1, "size": 256}]
    t5 = devs[(5, 0)]
    assert t5["irq_pin"] == 1 and t5["irq"] == 0
    assert [r["bar"] for r in t5["regions"]] == [0, 1, 2]

    assert "  Bus  0, device   0, function 0:\r\n" \
           "    Host bridge: PCI device 8086:1237\r\n" \
           "      PCI subsystem 1af4:1100\r\n" \
           "      id \"\"\r\n" in text, text
    assert "    Class 0255: PCI device 1b36:0005\r\n" in text, text
    assert "      BAR0: 32 bit memory at 0xffffffffffffffff " \
           "[0x00000ffe].\r\n" in text, text
    assert "      BAR1: I/O at 0xffffffffffffffff [0x00fe].\r\n" in text
    assert "      IRQ 0, pin A\r\n" in text, text
    assert "      id \"t1\"\r\n" in text, text


def test_microvm_has_no_pci(vireo_binary, debian_guest, tmp_path):
    vm, sock = _start(vireo_binary, debian_guest, tmp_path, "microvm", [])
    with vm, QMPClient(sock) as c:
        assert c.cmd("query-pci") == []
        assert "PCI is not available" in c.hmp("info pci")


@pytest.mark.parametrize("opt,msg", [
    ("pci-testdev,addr=0", "slot 0 function 0 not available for "
     "pci-testdev, in use by i440FX"),
    ("pci-testdev,addr=0x20", "slot 0-0x1f"),
    ("pci-testdev,addr=2.9", "function 0-7"),
    ("pci-testdev,bus=pci.7", "bus 'pci.7' not found"),
])
def test_bad_pci_device_options(vireo_binary, debian_guest, opt, msg):
    args = guest_args(vireo_binary, debian_guest, "pc", 1, "console=ttyS0") \
        + ["-S", "-device", opt]
    r = vmrun.run_vm(args, timeout=30)
    assert r.returncode != 0 and msg in r.output, r.describe()


QEMU = shutil.which("qemu-system-x86_64")


def _qemu_query_pci():
    cmds = ('{"execute":"qmp_capabilities"}\n{"execute":"query-pci"}\n'
            '{"execute":"quit"}\n')
    p = subprocess.run([QEMU, "-M", "pc", "-accel", "tcg", "-display", "none",
                        "-qmp", "stdio", "-S",
                        "-device", "pci-testdev,id=t1"],
                       input=cmds, capture_output=True, text=True, timeout=60)
    import json
    for line in p.stdout.splitlines():
        msg = json.loads(line)
        if isinstance(msg.get("return"), list):
            return msg["return"]
    pytest.skip(f"QEMU gave no query-pci reply: {p.stderr}")


@pytest.mark.skipif(QEMU is None, reason="Debian's qemu-system-x86 is not "
                    "installed: nothing to compare query-pci with")
def test_query_pci_matches_qemu(vireo_binary, debian_guest, tmp_path):
    vm, sock = _start(vireo_binary, debian_guest, tmp_path, "pc",
                      ["-device", "pci-testdev,id=t1"])
    with vm, QMPClient(sock) as c:
        ours = c.cmd("query-pci")
    theirs = _qemu_query_pci()
    key = lambda d: (d["slot"], d["function"])
    ours_by = {key(d): d for d in ours[0]["devices"]}
    theirs_by = {key(d): d for d in theirs[0]["devices"]}
    for k in [(0, 0), (1, 0), (1, 1), (1, 3), (2, 0), (3, 0), (4, 0)]:
        assert ours_by[k] == theirs_by[k], (k, ours_by[k], theirs_by[k])
