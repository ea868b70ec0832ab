"""QMP against the real guest (Debian's kernel and the busybox initramfs of
tests/guest/build-debian-guest.sh): stopping the VM stops the guest's
clock, system_reset reboots it, info registers shows where it runs, and
system_powerdown presses the ACPI power button, which the guest answers by
shutting down cleanly. One boot per machine type carries all of it, as
boots on the software CPU take a while."""

import re
import time

import pytest

from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess

READY = "VIREO-GUEST-READY"
PROMPT = r"vireo-guest:/# "


def guest_uptime(vm, tag):
    """The guest's /proc/uptime in seconds, read on its serial console."""
    vm.send(f"echo {tag}=$(cut -d' ' -f1 /proc/uptime)\n")
    # the number is whole once its line ended
    assert vm.expect(rf"{tag}=([0-9.]+)\r?\n", timeout=60), vm.output
    return float(re.findall(rf"{tag}=([0-9.]+)\r?\n", vm.output)[-1])


@pytest.mark.slow
def test_stop_cont_reset_registers_and_powerdown_on_pc(vireo_binary,
                                                       debian_guest,
                                                       tmp_path):
    sock = tmp_path / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      "console=ttyS0 vireo.task=shell") + \
        ["-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert vm.expect(PROMPT, timeout=TIMEOUT), vm.output

        # stop/cont: status and the guest's own clock
        u1 = guest_uptime(vm, "up1")
        t1 = time.monotonic()
        c.cmd("stop")
        c.wait_event("STOP", timeout=10)
        assert c.cmd("query-status")["status"] == "paused"
        regs = c.hmp("info registers")      # readable while stopped
        assert "RIP=" in regs and "CR3=" in regs, regs
        time.sleep(4)
        c.cmd("cont")
        c.wait_event("RESUME", timeout=10)
        assert c.cmd("query-status")["status"] == "running"
        u2 = guest_uptime(vm, "up2")
        wall = time.monotonic() - t1
        assert u2 - u1 < wall - 3, (u1, u2, wall)

        # registers of a running guest: 64-bit code; at the idle prompt
        # mostly the kernel's, but a busybox process may be caught in user
        # mode (CPL=3) now and then, so look a few times
        for _ in range(10):
            regs = c.hmp("info registers")
            rip = int(re.search(r"RIP=([0-9a-f]+)", regs).group(1), 16)
            if rip >= 0xffff800000000000:
                break
            time.sleep(0.2)
        assert rip >= 0xffff800000000000, regs
        assert "EFER=" in regs and "CS64" in regs, regs

        # system_reset: the guest boots again
        c.cmd("system_reset")
        ev = c.wait_event("RESET", timeout=10)
        assert ev["data"] == {"guest": False,
                              "reason": "host-qmp-system-reset"}
        deadline = time.monotonic() + TIMEOUT
        while vm.output.count(READY) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert vm.output.count(READY) == 2, vm.output
        assert vm.expect(PROMPT, timeout=TIMEOUT), vm.output

        # system_powerdown: the ACPI power button; the guest shuts down
        c.cmd("system_powerdown")
        c.wait_event("POWERDOWN", timeout=10)
        ev = c.wait_event("SHUTDOWN", timeout=TIMEOUT)
        assert ev["data"] == {"guest": True, "reason": "guest-shutdown"}
        r = vm.wait(timeout=30)
    assert not r.timed_out and r.returncode == 0, r.describe()
    assert "VIREO-POWER-BUTTON" in r.output, r.describe()


@pytest.mark.slow
def test_powerdown_with_no_shutdown_on_microvm(vireo_binary, debian_guest,
                                               tmp_path):
    """microvm's power button too; with -no-shutdown the powered-off VM
    stays in "shutdown" and cont is refused until a reset."""
    sock = tmp_path / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, "microvm", 1,
                      "console=ttyS0 vireo.task=shell") + \
        ["-qmp", f"unix:{sock},server=on,wait=off", "-no-shutdown"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert vm.expect(PROMPT, timeout=TIMEOUT), vm.output
        c.cmd("system_powerdown")
        ev = c.wait_event("SHUTDOWN", timeout=TIMEOUT)
        assert ev["data"] == {"guest": True, "reason": "guest-shutdown"}
        c.wait_event("STOP", timeout=10)
        assert c.cmd("query-status") == {"running": False,
                                         "singlestep": False,
                                         "status": "shutdown"}
        err = c.execute("cont")["error"]
        assert "Resetting the Virtual Machine is required" in err["desc"]
        assert vm.proc.poll() is None
        c.cmd("quit")
        r = vm.wait(timeout=30)
    assert r.returncode == 0, r.describe()
    assert "VIREO-POWER-BUTTON" in r.output, r.describe()
