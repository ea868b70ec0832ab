"""Debian's stock kernel with the busybox initramfs of
tests/guest/build-debian-guest.sh, booted directly (-kernel/-initrd/-append)
on microvm and pc: the guest reports what it sees (CPUs, memory, command
line, an initrd checksum) and powers off, and Vireo must exit with 0.

Runs under KVM when the host's KVM can run a stock Linux kernel (see
vmrun.kvm_runs_stock_linux), otherwise on Vireo's software CPU (-accel tcg),
as the README's run command does. VIREO_DEBIAN_ACCEL=kvm or =tcg picks one.
"""

import os
import re
import secrets
import shutil
import socket
import subprocess

import pytest

import vmrun


def _accel():
    forced = os.environ.get("VIREO_DEBIAN_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    return "kvm" if vmrun.kvm_runs_stock_linux()[0] else "tcg"


ACCEL = _accel()
if ACCEL == "tcg":
    ACCEL_ARGS = ["-accel", "tcg"]
    TIMEOUT = 600
else:
    ACCEL_ARGS = ["-enable-kvm", "-cpu", "host"]
    TIMEOUT = 120

MACHINES = ["microvm", "pc"]
MEM_MB = 512


def guest_args(vireo, guest, machine, smp, append, mem_mb=MEM_MB):
    return [vireo, "-M", machine, *ACCEL_ARGS, "-m", str(mem_mb),
            "-smp", str(smp), "-kernel", guest["vmlinuz"],
            "-initrd", guest["initrd"], "-append", append, "-nographic"]


@pytest.mark.parametrize("smp", [1, 4])
@pytest.mark.parametrize("machine", MACHINES)
def test_guest_sees_cpus_memory_cmdline_initrd(vireo_binary, debian_guest,
                                               machine, smp):
    token = secrets.token_hex(4)
    append = f"console=ttyS0 vireo.task=info vireo.token={token}"
    r = vmrun.run_vm(guest_args(vireo_binary, debian_guest, machine, smp,
                                append), timeout=TIMEOUT)
    assert not r.timed_out, r.describe()
    assert "VIREO-GUEST-READY" in r.output, r.describe()
    info = vmrun.parse_guest_info(r.output)
    assert info is not None, r.describe()

    assert info["cpus"] == str(smp), r.describe()
    # MemTotal is RAM less what firmware tables and the kernel image keep.
    mem_kb = int(info["mem_kb"])
    assert MEM_MB * 1024 * 0.8 < mem_kb <= MEM_MB * 1024, r.describe()
    # The VMM may add words of its own (e.g. device descriptions); ours
    # must all arrive, in order.
    words = info["cmdline"].split()
    ours = append.split()
    assert [w for w in words if w in ours] == ours, r.describe()
    assert info["initrd_ok"] == "1", r.describe()
    assert info["initrd_sha256"] == debian_guest["INITRD_SHA256"], \
        r.describe()
    assert info["kernel"] == debian_guest["KERNEL_RELEASE"], r.describe()

    assert r.returncode == 0, r.describe()


def gdb_interrupts(port):
    """gdb attaches (the VM stops), reads where the kernel is and detaches
    (it runs on): its output."""
    r = subprocess.run(["gdb", "-nx", "-batch", "-ex",
                        f"target remote 127.0.0.1:{port}", "-ex",
                        "print/x $pc", "-ex", "info threads", "-ex",
                        "x/1i $pc", "-ex", "detach"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout + r.stderr


# One boot for all: the shell answers, gdb interrupts the guest and lets
# it go, the shell answers again, then the guest's reboot ends the VMM
# (exit status 0) because of -no-reboot.
@pytest.mark.parametrize("machine", MACHINES)
def test_guest_shell_gdb_and_reboot_with_no_reboot_exits(vireo_binary,
                                                         debian_guest,
                                                         machine):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = guest_args(vireo_binary, debian_guest, machine, 1,
                      "console=ttyS0 vireo.task=shell") + \
        ["-no-reboot", "-gdb", f"tcp:127.0.0.1:{port}"]
    with vmrun.VMProcess(args) as vm:
        assert vm.expect(r"vireo-guest:/# ", timeout=TIMEOUT), vm.output
        vm.send("echo answer=$((6*7))\n")
        assert vm.expect(r"answer=42", timeout=30), vm.output
        if shutil.which("gdb"):
            out = gdb_interrupts(port)
            # where it was (the kernel's idle loop, most likely), readable
            # through its page tables
            assert re.search(r"\$1 = 0x[0-9a-f]+", out), out
            assert "=> 0x" in out and "Cannot access" not in out, out
            assert "Thread 1 (CPU#0" in out and "detached" in out, out
            vm.send("echo again=$((6*8))\n")
            assert vm.expect(r"again=48", timeout=60), vm.output
        vm.send("reboot -f\n")
        r = vm.wait(timeout=30)
    assert not r.timed_out, r.describe()
    assert "reboot: Restarting system" in r.output, r.describe()
    assert r.returncode == 0, r.describe()
