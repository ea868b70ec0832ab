"""-machine kernel-decompress: Vireo decompresses Debian's bzImage on the
host and enters the kernel proper itself (hw/i386/linux_unpack.c), with
KASLR: the kernel text sits at a random 2 MiB-aligned virtual offset, made
anew when a reset loads the kernel again; `nokaslr` keeps the link address;
`off` leaves the work to the kernel's own decompressor; a corrupt payload
or a bad option value is refused with a clear error.

Under the software CPU `auto` (the default) means on, so every other
Debian-guest test boots this way too.
"""

import re
import subprocess
import time

import vmrun
from test_debian_guest import TIMEOUT, guest_args

LINK_TEXT = 0xffffffff81000000
KERNEL_IMAGE_END = 0xffffffffc0000000   # 1 GiB from __START_KERNEL_map
TEXT_RE = r"([0-9a-f]{16}) T _text"


def _args(vireo, guest, machine, option, append):
    return guest_args(vireo, guest, machine, 1, append) + \
        ["-M", f"{machine},kernel-decompress={option}"]


def _boot_output(vm, boot):
    """The output since the boot-th boot's guest was ready ("" before)."""
    parts = vm.output.split("VIREO-GUEST-READY")
    return parts[boot] if len(parts) > boot else ""


def _shell_text(vm, boot):
    """The kernel's _text address and its physical start, asked of the
    shell of the boot-th boot."""
    code_re = r"([0-9a-f]+)-[0-9a-f]+ : Kernel code"
    deadline = time.monotonic() + TIMEOUT
    while "vireo-guest:/# " not in _boot_output(vm, boot):
        assert time.monotonic() < deadline, vm.output
        time.sleep(0.2)
    # ash may drop what is typed while it sets the terminal up: ask again
    # until the answer comes
    for _ in range(10):
        vm.send("grep -w _text /proc/kallsyms; "
                "grep 'Kernel code' /proc/iomem\n")
        stop = time.monotonic() + 15
        while time.monotonic() < stop and \
                not re.search(code_re, _boot_output(vm, boot)):
            time.sleep(0.2)
        out = _boot_output(vm, boot)
        text, code = re.search(TEXT_RE, out), re.search(code_re, out)
        if text and code:
            return int(text.group(1), 16), int(code.group(1), 16)
    raise AssertionError(vm.output)


def test_kaslr_offset_and_kernel_remade_at_reset(vireo_binary, debian_guest):
    args = _args(vireo_binary, debian_guest, "microvm", "on",
                 "console=ttyS0 vireo.task=shell")
    with vmrun.VMProcess(args) as vm:
        text1, code1 = _shell_text(vm, 1)
        # a reset (no -no-reboot): the kernel is decompressed again
        vm.send("reboot -f\n")
        assert vm.expect(r"reboot: Restarting system", timeout=60), vm.output
        text2, code2 = _shell_text(vm, 2)
        vm.send("poweroff -f\n")
        r = vm.wait(timeout=60)
    assert not r.timed_out, r.describe()
    assert r.output.count("VIREO-GUEST-READY") == 2, r.describe()
    for text in (text1, text2):
        assert text % (2 << 20) == 0, hex(text)
        assert LINK_TEXT <= text < KERNEL_IMAGE_END, hex(text)
    # about 500 offsets to choose from: both at the link address would
    # mean none is chosen
    assert (text1, text2) != (LINK_TEXT, LINK_TEXT)
    # Vireo lays the kernel out at its physical link address
    assert code1 == code2 == 0x1000000, r.describe()
    assert r.returncode == 0, r.describe()


def test_nokaslr_keeps_the_link_address(vireo_binary, debian_guest):
    append = ('console=ttyS0 nokaslr vireo.task=cmd '
              'vireo.cmd="grep -w _text /proc/kallsyms"')
    r = vmrun.run_vm(_args(vireo_binary, debian_guest, "pc", "on", append)
                     + ["-no-reboot"], timeout=TIMEOUT)
    assert not r.timed_out, r.describe()
    assert "VIREO-CMD-EXIT status=0" in r.output, r.describe()
    m = re.search(TEXT_RE, r.output)
    assert m and int(m.group(1), 16) == LINK_TEXT, r.describe()
    assert r.returncode == 0, r.describe()


def test_off_runs_the_kernels_own_decompressor(vireo_binary, debian_guest):
    r = vmrun.run_vm(_args(vireo_binary, debian_guest, "microvm", "off",
                           "console=ttyS0 quiet vireo.task=poweroff")
                     + ["-no-reboot"], timeout=TIMEOUT)
    assert not r.timed_out, r.describe()
    assert "VIREO-GUEST-READY" in r.output, r.describe()
    assert r.returncode == 0, r.describe()


def _refused(vireo, kernel, machine_opts):
    return subprocess.run(
        [vireo, "-M", machine_opts, "-accel", "tcg", "-m", "256",
         "-kernel", str(kernel), "-nographic", "-no-reboot"],
        capture_output=True, text=True, timeout=60)


def test_bad_option_value(vireo_binary, debian_guest):
    r = _refused(vireo_binary, debian_guest["vmlinuz"],
                 "microvm,kernel-decompress=maybe")
    assert r.returncode != 0
    assert "kernel-decompress=maybe: expected on, off or auto" in r.stderr


def _payload(data):
    """Offset and length of the bzImage's compressed payload."""
    setup = ((data[0x1f1] or 4) + 1) * 512
    off = int.from_bytes(data[0x248:0x24c], "little")
    n = int.from_bytes(data[0x24c:0x250], "little")
    return setup + off, n


def test_corrupt_or_unsupported_payload_refused(vireo_binary, debian_guest,
                                               tmp_path):
    data = bytearray(open(debian_guest["vmlinuz"], "rb").read())
    off, n = _payload(data)
    corrupt = bytearray(data)
    corrupt[off + n // 2] ^= 0x55
    (tmp_path / "corrupt").write_bytes(corrupt)
    r = _refused(vireo_binary, tmp_path / "corrupt",
                 "microvm,kernel-decompress=on")
    assert r.returncode != 0
    assert "compressed payload is corrupt" in r.stderr, r.stderr

    bzip2 = bytearray(data)
    bzip2[off:off + 4] = b"BZh9"
    (tmp_path / "bzip2").write_bytes(bzip2)
    r = _refused(vireo_binary, tmp_path / "bzip2",
                 "microvm,kernel-decompress=on")
    assert r.returncode != 0
    assert "compressed with bzip2, lzo or lz4" in r.stderr, r.stderr
    assert "kernel-decompress=off" in r.stderr, r.stderr
