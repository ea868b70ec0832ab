"""UEFI firmware (Debian's OVMF) on the i440FX `pc` machine, under Vireo's
software CPU.

OVMF on an i440FX programs the PIIX4 power-management function at 00:01.3
(PMBA 0xb000, PMREGMISC.PMIOSE) and times itself with the ACPI PM timer
there; without that function it never leaves DXE. One boot from the
system flash (-drive if=pflash: OVMF_CODE_4M.fd read-only and a copy of
OVMF_VARS_4M.fd) goes through the boot manager to OVMF's shell, which runs
startup.nsh from an EFI system partition on virtio-blk and starts Debian's
kernel through its EFI stub to the guest's ready marker. The kernel finds
the PM timer where the FADT says: the tables Vireo hands over fw_cfg are
rebuilt when OVMF loads them, with the base OVMF chose. `-bios OVMF.fd`
(the combined image, as a ROM) reaches the shell too.

Milestone times are printed (`pytest -s`).
"""

import re
import shutil
from pathlib import Path

import pytest

import pcimages
import vmrun

OVMF_CODE = pcimages.OVMF_CODE
OVMF_VARS = pcimages.OVMF_VARS
OVMF_COMBINED = Path("/usr/share/ovmf/OVMF.fd")
BOOT_TIMEOUT = 300
SHELL_TIMEOUT = 150
READY = r"VIREO-GUEST-READY"
# OVMF's PIIX4 PM base (PIIX4_PMBA_VALUE); the timer is at +8
OVMF_PIIX4_PMBA = 0xb000
MILESTONES = [
    ("boot manager", r"BdsDxe: (loading|starting) Boot"),
    ("UEFI shell", r"UEFI Interactive Shell"),
    ("startup.nsh", r"VIREO-PC-STARTUP"),
    ("EFI stub", r"EFI stub: Loaded initrd"),
    ("kernel console", r"Linux version"),
    ("guest ready", READY),
]


def _need(path, package):
    if not path.exists():
        pytest.skip(f"{path} is missing (Debian's '{package}' package; "
                    "scripts/install-deps.sh)")


def _pc_args(binary, *extra):
    return [str(binary), "-M", "pc", "-accel", "tcg", "-m", "512",
            "-display", "none", "-nodefaults", "-no-reboot",
            "-serial", "stdio", *[str(a) for a in extra]]


@pytest.fixture(scope="module")
def pc(vireo_binary):
    _need(OVMF_CODE, "ovmf")
    _need(OVMF_VARS, "ovmf")
    return vireo_binary


@pytest.fixture(scope="module")
def esp(tmp_path_factory):
    """A FAT ESP image with the kernel, the initramfs and startup.nsh, or
    the reason there is none (the shell tests run without it)."""
    try:
        guest = vmrun.build_debian_guest()
        script = ["echo -off", "echo VIREO-PC-STARTUP", "fs0:",
                  pcimages.ovmf_kernel_line("info")]
        return pcimages.build_ovmf_esp(guest, tmp_path_factory.mktemp("esp"),
                                       script)
    except (vmrun.GuestBuildError, pcimages.ImageBuildError) as e:
        return str(e)


@pytest.fixture(scope="module")
def flash_boot(pc, esp, tmp_path_factory):
    """OVMF from flash on pc, with the ESP when there is one: one boot
    shared by the tests below."""
    vars_path = tmp_path_factory.mktemp("vars") / "vars.fd"
    shutil.copyfile(OVMF_VARS, vars_path)
    args = _pc_args(pc,
                    "-drive", f"if=pflash,format=raw,unit=0,readonly=on,"
                              f"file={OVMF_CODE}",
                    "-drive", f"if=pflash,format=raw,unit=1,file={vars_path}")
    have_esp = isinstance(esp, Path)
    if have_esp:
        args += ["-drive", f"file={esp},format=raw,if=none,id=esp,"
                           "readonly=on",
                 "-device", "virtio-blk-pci,drive=esp"]
    milestones = MILESTONES if have_esp else MILESTONES[:2]
    with vmrun.VMProcess(args, stdin=False) as vm:
        times = pcimages.run_to(vm, milestones, BOOT_TIMEOUT)
        if "guest ready" in times:
            vm.expect(r"VIREO-INFO .*\n", timeout=60)
        result = {"times": times, "output": vm.output, "esp": esp,
                  "describe": pcimages.describe_boot(vm)}
    print("\nOVMF on pc (s from process start): " +
          ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    return result


def test_flash_ovmf_reaches_shell(flash_boot):
    """OVMF from the system flash leaves DXE on pc: its boot manager runs
    and starts the UEFI shell."""
    for name in ("boot manager", "UEFI shell"):
        assert name in flash_boot["times"], \
            f"never reached: {name}\n" + flash_boot["describe"]


def _need_kernel_boot(flash_boot):
    if not isinstance(flash_boot["esp"], Path):
        pytest.skip(f"no ESP to boot from: {flash_boot['esp']}")


def test_kernel_boots_from_esp(flash_boot):
    """The shell runs startup.nsh from the ESP on virtio-blk; Debian's
    kernel boots through its EFI stub with the initramfs to the guest's
    ready marker."""
    _need_kernel_boot(flash_boot)
    for name, _ in MILESTONES:
        assert name in flash_boot["times"], \
            f"never reached: {name}\n" + flash_boot["describe"]
    info = vmrun.parse_guest_info(flash_boot["output"])
    assert info, flash_boot["describe"]
    assert info["initrd_ok"] == "1", flash_boot["describe"]
    assert "vireo.task=info" in info["cmdline"], flash_boot["describe"]


def test_kernel_finds_pm_timer_where_ovmf_put_it(flash_boot):
    """The FADT the guest gets names the PM timer at OVMF's PMBA + 8, not
    the 0x600 block SeaBIOS would have used: the tables were rebuilt when
    the firmware loaded them."""
    _need_kernel_boot(flash_boot)
    assert "kernel console" in flash_boot["times"], flash_boot["describe"]
    m = re.search(r"PM-Timer IO Port: (0x[0-9a-f]+)", flash_boot["output"])
    assert m, flash_boot["describe"]
    assert int(m.group(1), 16) == OVMF_PIIX4_PMBA + 8, flash_boot["describe"]


def test_bios_combined_image_reaches_shell(pc):
    """-bios OVMF.fd (code and variable store in one image) runs as a ROM
    on pc: OVMF's boot manager falls back to its shell."""
    _need(OVMF_COMBINED, "ovmf")
    args = _pc_args(pc, "-bios", OVMF_COMBINED)
    with vmrun.VMProcess(args, stdin=False) as vm:
        times = pcimages.run_to(vm, MILESTONES[:2], SHELL_TIMEOUT)
        assert "UEFI shell" in times, pcimages.describe_boot(vm)
    print(f"\n-bios OVMF.fd on pc: shell after {times['UEFI shell']:.1f}s")
