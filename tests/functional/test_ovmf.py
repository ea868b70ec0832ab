"""UEFI firmware (Debian's OVMF) under Vireo's software CPU, from the system
flash: -drive if=pflash unit 0 (OVMF_CODE_4M.fd, read-only) and unit 1 (a
private copy of OVMF_VARS_4M.fd).

One boot goes all the way: OVMF's boot manager finds no boot option, starts
its shell, which runs startup.nsh from an EFI system partition the test
builds with mtools (a FAT file system on a virtio disk). The script stores
a non-volatile UEFI variable (`setvar -nv`) and starts Debian's kernel
through its EFI stub with the test initramfs (initrd= on the command line);
the guest reaches its ready marker. There Linux mounts efivarfs, reads the
shell's variable and stores one of its own through the firmware's runtime
services (SetVariable, after SetVirtualAddressMap, writing the flash from
the kernel's mapping of it), reads it back, creates and deletes a third
and powers off. The firmware's writes to the flash reach the vars image; a
second boot from that image prints both stored variables in the shell, and
not the deleted one. The guest's side is `vireo.task=efivar` of
tests/guest/build-debian-guest.sh. `-bios OVMF.fd` (the combined image,
as a ROM) reaches the shell.

The kernel cannot be \\EFI\\BOOT\\BOOTX64.EFI here: booted as the removable
media default it would get no command line, hence no initrd=.

Runs on q35 (OVMF needs a PM timer that Vireo's pc does not place yet:
PIIX4's power management function, 00:01.3). Milestone times are printed
(`pytest -s`) for comparing with `qemu-system-x86_64 -accel tcg`.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import pcimages
import vmrun

OVMF_DIR = pcimages.OVMF_DIR
OVMF_CODE = pcimages.OVMF_CODE
OVMF_VARS = pcimages.OVMF_VARS
OVMF_COMBINED = Path("/usr/share/ovmf/OVMF.fd")
MACHINE = "q35"
BOOT_TIMEOUT = 300
READY = r"VIREO-GUEST-READY"
VAR_GUID = "7c5f4a1e-3b2d-4e6f-9a8b-1c2d3e4f5a6b"
VAR_VALUE = "vireo-vars-ok"
# the variable Linux stores through efivarfs (same vendor GUID)
LINUX_VAR = "VireoLinux"
LINUX_VALUE = "vireo-linux-ok"
# one that Linux stores and deletes again
GONE_VAR = "VireoGone"
EFI_VARIABLE_NV_BS_RT = 0x7


def shell_dump(value):
    """What the shell's setvar prints for a stored value: its bytes in hex."""
    return " ".join(f"{b:02X}" for b in value.encode())


VAR_DUMP = shell_dump(VAR_VALUE)
# OVMF's boot manager and shell on the serial console, then the kernel
MILESTONES = [
    ("boot manager", r"BdsDxe: (loading|starting) Boot"),
    ("UEFI shell", r"UEFI Interactive Shell"),
    ("startup.nsh", r"VIREO-VAR-SET"),
    ("EFI stub", r"EFI stub: Loaded initrd"),
    ("kernel console", r"Linux version"),
    ("guest ready", READY),
]


def _need(path, package):
    if not path.exists():
        pytest.skip(f"{path} is missing (Debian's '{package}' package; "
                    "scripts/install-deps.sh)")


@pytest.fixture(scope="module")
def q35(vireo_binary):
    _need(OVMF_CODE, "ovmf")
    _need(OVMF_VARS, "ovmf")
    out = subprocess.run([str(vireo_binary), "-machine", "help"],
                         capture_output=True, text=True, timeout=30).stdout
    if not re.search(rf"^{MACHINE}\s", out, re.M):
        pytest.skip(f"vireo has no '{MACHINE}' machine yet")
    return vireo_binary


@pytest.fixture(scope="module")
def esp(tmp_path_factory):
    """A FAT ESP image: the kernel, the initramfs and startup.nsh."""
    try:
        guest = vmrun.build_debian_guest()
    except vmrun.GuestBuildError as e:
        pytest.skip(f"cannot build the Debian test guest: {e}")
    script = [
        "echo -off",
        "echo VIREO-GONE-BEFORE",
        f"setvar {GONE_VAR} -guid {VAR_GUID}",
        "echo VIREO-VAR-BEFORE",
        f"setvar VireoPersist -guid {VAR_GUID}",
        f"setvar {LINUX_VAR} -guid {VAR_GUID}",
        f'setvar VireoPersist -guid {VAR_GUID} -nv -bs -rt ="{VAR_VALUE}"',
        "echo VIREO-VAR-SET",
        "fs0:",
        pcimages.ovmf_kernel_line("efivar") +
        f" vireo.efivar.get=VireoPersist-{VAR_GUID}"
        f" vireo.efivar.set={LINUX_VAR}-{VAR_GUID}={LINUX_VALUE}"
        f" vireo.efivar.get={LINUX_VAR}-{VAR_GUID}"
        f" vireo.efivar.set={GONE_VAR}-{VAR_GUID}=gone"
        f" vireo.efivar.rm={GONE_VAR}-{VAR_GUID}"
        f" vireo.efivar.get={GONE_VAR}-{VAR_GUID}",
    ]
    try:
        return pcimages.build_ovmf_esp(guest, tmp_path_factory.mktemp("esp"),
                                       script)
    except pcimages.ImageBuildError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def first_boot(q35, esp, tmp_path_factory):
    """OVMF from flash boots the kernel from the ESP, which stores a UEFI
    variable through efivarfs and powers off; one boot shared by the tests
    below."""
    d = tmp_path_factory.mktemp("vars")
    vars_path = d / "vars.fd"
    shutil.copyfile(OVMF_VARS, vars_path)
    args = pcimages.ovmf_args(q35, vars_path, esp)
    exit_code = None
    with vmrun.VMProcess(args, stdin=False) as vm:
        times = pcimages.run_to(vm, MILESTONES, BOOT_TIMEOUT)
        if "guest ready" in times:
            vm.expect(r"VIREO-INFO .*\n", timeout=60)
            if vm.expect(r"VIREO-EFIVAR-(DONE|UNAVAILABLE)", timeout=120):
                # the guest powers off (-no-reboot: vireo exits)
                exit_code = vm.wait(timeout=60).returncode
        result = {"times": times, "output": vm.output, "vars": vars_path,
                  "exit_code": exit_code,
                  "describe": pcimages.describe_boot(vm)}
    print("\nOVMF boot on Vireo (s from process start): " +
          ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    return result


def test_ovmf_boots_kernel_from_esp(first_boot):
    """OVMF runs from the flash, its shell runs startup.nsh from the ESP and
    Debian's kernel (EFI stub) boots with the initramfs to the guest's ready
    marker, with the command line the script gave."""
    times = first_boot["times"]
    for name, _ in MILESTONES:
        assert name in times, f"never reached: {name}\n" + \
            first_boot["describe"]
    info = vmrun.parse_guest_info(first_boot["output"])
    assert info, first_boot["describe"]
    assert info["initrd_ok"] == "1", first_boot["describe"]
    assert "vireo.task=efivar" in info["cmdline"], first_boot["describe"]


def efivar_lines(output):
    """The guest's VIREO-EFIVAR lines: {name-guid: the rest of the line}."""
    found = {}
    for m in re.finditer(r"VIREO-EFIVAR(?:-SET|-RM)? name=(\S+) ?(.*)",
                         output):
        found.setdefault(m.group(1), []).append(m.group(2).strip())
    return found


def test_linux_stores_variable_through_efivarfs(first_boot):
    """Linux under OVMF mounts efivarfs, sees the variable the shell stored
    (runtime GetVariable), creates a new non-volatile variable (NV|BS|RT,
    runtime SetVariable writing the flash through the kernel's virtual
    mapping) and reads it back; then it powers off and vireo exits."""
    out = first_boot["output"]
    assert "VIREO-EFIVAR-DONE" in out, first_boot["describe"]
    lines = efivar_lines(out)
    persist = lines.get(f"VireoPersist-{VAR_GUID}")
    assert persist == [f"attr={EFI_VARIABLE_NV_BS_RT} "
                       f"data={VAR_VALUE.encode().hex()}"], \
        first_boot["describe"]
    mine = lines.get(f"{LINUX_VAR}-{VAR_GUID}")
    assert mine == ["status=0",
                    f"attr={EFI_VARIABLE_NV_BS_RT} "
                    f"data={LINUX_VALUE.encode().hex()}"], \
        first_boot["describe"]
    assert first_boot["exit_code"] == 0, first_boot["describe"]
    data = first_boot["vars"].read_bytes()
    assert LINUX_VAR.encode("utf-16-le") in data
    assert LINUX_VALUE.encode() in data


def test_linux_deletes_variable_through_efivarfs(first_boot):
    """A variable Linux created, then deleted (clearing the immutable flag
    efivarfs gives it, then rm: SetVariable with no data), is gone."""
    lines = efivar_lines(first_boot["output"])
    assert lines.get(f"{GONE_VAR}-{VAR_GUID}") == \
        ["status=0", "status=0", "missing"], first_boot["describe"]


def test_firmware_writes_reach_vars_image(first_boot):
    """The firmware's variable writes (flash programs and erases) reach the
    vars image: it differs from the template, keeps its size, and holds the
    variable the shell stored; the template itself is untouched."""
    assert "UEFI shell" in first_boot["times"], first_boot["describe"]
    data = first_boot["vars"].read_bytes()
    template = OVMF_VARS.read_bytes()
    assert len(data) == len(template)
    assert data != template
    assert VAR_VALUE.encode() in data, first_boot["describe"]
    name = "VireoPersist".encode("utf-16-le")
    assert name in data
    assert VAR_VALUE.encode() not in template


def test_variable_persists_across_restart(q35, esp, first_boot, tmp_path):
    """A new VM on the same vars image: the shell's setvar reads back the
    variables the first boot stored, the shell's own (before storing it
    again) and the one Linux stored through efivarfs."""
    assert VAR_VALUE.encode() in first_boot["vars"].read_bytes(), \
        "the first boot stored no variable"
    vars_path = tmp_path / "vars.fd"
    shutil.copyfile(first_boot["vars"], vars_path)
    args = pcimages.ovmf_args(q35, vars_path, esp)
    with vmrun.VMProcess(args, stdin=False) as vm:
        assert vm.expect(r"VIREO-VAR-BEFORE", timeout=BOOT_TIMEOUT), \
            pcimages.describe_boot(vm)
        m = vm.expect(r"VIREO-VAR-SET", timeout=60)
        assert m, pcimages.describe_boot(vm)
        text = re.sub(r"\x1b\[[0-9;=]*[A-Za-z]", "", vm.output)
        between = text.split("VIREO-VAR-BEFORE")[-1].split("VIREO-VAR-SET")[0]
        assert "VireoPersist" in between, pcimages.describe_boot(vm)
        assert VAR_DUMP in between, pcimages.describe_boot(vm)
        assert LINUX_VAR in between, pcimages.describe_boot(vm)
        assert shell_dump(LINUX_VALUE) in between, pcimages.describe_boot(vm)
        assert "Unable to get" not in between, pcimages.describe_boot(vm)
        # the variable Linux deleted is not there after the restart
        gone = text.split("VIREO-GONE-BEFORE")[-1].split("VIREO-VAR-BEFORE")[0]
        assert GONE_VAR in gone and "Unable to get" in gone, \
            pcimages.describe_boot(vm)
        assert shell_dump("gone") not in gone, pcimages.describe_boot(vm)


def test_bios_combined_image_reaches_shell(q35, tmp_path):
    """-bios OVMF.fd (code and variable store in one image) runs as a ROM:
    OVMF's boot manager falls back to its shell."""
    _need(OVMF_COMBINED, "ovmf")
    args = [q35, "-M", MACHINE, "-accel", "tcg", "-m", "256", "-display",
            "none", "-nodefaults", "-no-reboot", "-serial", "stdio", "-bios",
            OVMF_COMBINED]
    with vmrun.VMProcess(args, stdin=False) as vm:
        times = pcimages.run_to(vm, MILESTONES[:2], 120)
        assert "UEFI shell" in times, pcimages.describe_boot(vm)
    print(f"\n-bios OVMF.fd: shell after {times['UEFI shell']:.1f}s")


def test_secure_boot_image_refused(q35, tmp_path):
    """Debian's secure-boot OVMF needs SMM: refused, saying so."""
    secboot = OVMF_DIR / "OVMF_CODE_4M.ms.fd"
    _need(secboot, "ovmf")
    vars_path = tmp_path / "vars.fd"
    shutil.copyfile(OVMF_VARS, vars_path)
    args = pcimages.ovmf_args(q35, vars_path)
    args[args.index(f"if=pflash,format=raw,unit=0,readonly=on,"
                    f"file={OVMF_CODE}")] = \
        f"if=pflash,format=raw,unit=0,readonly=on,file={secboot}"
    r = vmrun.run_vm(args, timeout=30)
    assert r.returncode != 0 and not r.timed_out, r.describe()
    assert "needs SMM" in r.output, r.describe()
    assert vars_path.read_bytes() == OVMF_VARS.read_bytes()
