"""The PC's clocks with a real guest: Debian's kernel (rtc_cmos built in)
boots with -kernel on pc (and microvm), sets its system time from the
MC146818 RTC, and its clock must match the host's within a second; with
-rtc base=DATE it reads that date, and `hwclock -w` sets the RTC (QMP
RTC_CHANGE). An RTC
alarm interrupt reaches the guest on IRQ 8 (through the HPET's legacy
route, which Linux uses on pc). The pvpanic module reports a kernel panic
(GUEST_PANICKED) and Vireo exits, as QEMU's default -action panic=shutdown.

Runs under KVM when the host's KVM can run a stock Linux kernel, otherwise
on Vireo's software CPU (-accel tcg), as tests/functional/test_debian_guest.py.
"""

import os
import re
import time

import pytest

import vmrun
from qmp import QMPClient

def _accel_args():
    forced = os.environ.get("VIREO_DEBIAN_ACCEL")
    accel = forced if forced in ("kvm", "tcg") else (
        "kvm" if vmrun.kvm_runs_stock_linux()[0] else "tcg")
    if accel == "kvm":
        return ["-enable-kvm", "-cpu", "host"], 120
    return ["-accel", "tcg"], 600


ACCEL_ARGS, TIMEOUT = _accel_args()


def guest_args(vireo, guest, append, *extra, machine="pc"):
    return [vireo, "-M", machine, *ACCEL_ARGS, "-m", "256", "-kernel",
            guest["vmlinuz"], "-initrd", guest["initrd"], "-append",
            "console=ttyS0 " + append, "-nographic", *extra]


def cmd_append(cmd):
    # the guest's /init runs what is between the quotes of vireo.cmd="..."
    assert '"' not in cmd
    return f'vireo.task=cmd vireo.cmd="{cmd}"'


# microvm has the RTC too, as QEMU's does unless under KVM (rtc=on here)
@pytest.mark.parametrize("machine", ["pc", "microvm,rtc=on"])
def test_guest_clock_matches_host_and_rtc_alarm_interrupts(vireo_binary,
                                                            debian_guest,
                                                            machine):
    cmd = ("echo VIREO-RTC rtc=$(cat /sys/class/rtc/rtc0/since_epoch) "
           "sys=$(date +%s); "
           "echo VIREO-RTC-IRQ0 $(grep -E ' rtc0$' /proc/interrupts); "
           "echo +2 >/sys/class/rtc/rtc0/wakealarm; sleep 4; "
           "echo VIREO-RTC-IRQ1 $(grep -E ' rtc0$' /proc/interrupts); "
           "echo VIREO-RTC-ALARM $(cat /sys/class/rtc/rtc0/wakealarm)end")
    with vmrun.VMProcess(guest_args(vireo_binary, debian_guest,
                                    cmd_append(cmd), machine=machine)) as vm:
        # whole lines: the console may be read in the middle of one
        m = vm.expect(r"^VIREO-RTC rtc=(\d+) sys=(\d+)\r?\n",
                      timeout=TIMEOUT)
        host = time.time()
        assert m, vm.output
        rtc, sys_time = int(m.group(1)), int(m.group(2))
        # both are whole seconds read a moment before the host's clock
        assert host - 2 < rtc <= host + 0.5, (rtc, host, vm.output)
        assert host - 2 < sys_time <= host + 0.5, (sys_time, host,
                                                   vm.output)
        m = vm.expect(r"^VIREO-RTC-ALARM (.*)end", timeout=60)
        assert m, vm.output
        # the alarm went off, so the kernel cleared it
        assert m.group(1).strip() == b"", vm.output
        counts = [re.search(rf"^VIREO-RTC-IRQ{i}\s+8:((?:\s+\d+)+)",
                            vm.output, re.M) for i in (0, 1)]
        assert all(counts), vm.output
        before, after = (sum(int(n) for n in c.group(1).split())
                         for c in counts)
        assert after > before, vm.output
        r = vm.wait(timeout=60)
    assert r.returncode == 0, r.describe()


def test_rtc_base_date_and_guest_set_time(vireo_binary, debian_guest,
                                          tmp_path):
    base = 1150560081           # 2006-06-17T16:01:21 UTC
    new = 1262304000            # 2010-01-01T00:00:00 UTC
    cmd = ("echo VIREO-RTC rtc=$(cat /sys/class/rtc/rtc0/since_epoch); "
           f"date -u -s @{new} >/dev/null; hwclock -w -u; "
           "echo VIREO-RTC-SET rtc=$(cat /sys/class/rtc/rtc0/since_epoch)")
    sock = str(tmp_path / "qmp.sock")
    args = guest_args(vireo_binary, debian_guest, cmd_append(cmd), "-rtc",
                      "base=2006-06-17T16:01:21", "-qmp",
                      f"unix:{sock},server=on,wait=off")
    with vmrun.VMProcess(args) as vm:
        with QMPClient(sock) as qmp:
            m = vm.expect(r"^VIREO-RTC rtc=(\d+)\r?\n", timeout=TIMEOUT)
            assert m, vm.output
            assert base <= int(m.group(1)) < base + TIMEOUT, vm.output
            m = vm.expect(r"^VIREO-RTC-SET rtc=(\d+)\r?\n", timeout=60)
            assert m, vm.output
            assert new <= int(m.group(1)) < new + 30, vm.output
            ev = qmp.wait_event("RTC_CHANGE", timeout=30)
            # the guest moved the clock about 3.5 years from the base
            assert abs(ev["data"]["offset"] - (new - base)) < TIMEOUT, ev
            assert ev["data"]["qom-path"].startswith("/machine/"), ev
        r = vm.wait(timeout=60)
    assert r.returncode == 0, r.describe()


def test_pvpanic_guest_panic(vireo_binary, debian_guest, tmp_path):
    sock = str(tmp_path / "qmp.sock")
    args = guest_args(vireo_binary, debian_guest, "vireo.task=panic",
                      "-device", "pvpanic", "-qmp",
                      f"unix:{sock},server=on,wait=off")
    with vmrun.VMProcess(args) as vm:
        with QMPClient(sock) as qmp:
            ev = qmp.wait_event("GUEST_PANICKED", timeout=TIMEOUT)
            assert ev["data"]["action"] == "poweroff", ev
        r = vm.wait(timeout=60)
    assert not r.timed_out, r.describe()
    assert r.returncode == 0, r.describe()
