"""virtio-balloon with the real guest (Debian's kernel loads virtio_balloon):
memory the guest fills and frees goes back to the host by free page
reporting, and QMP balloon makes the guest inflate (the host takes the
pages back: the VMM's resident memory falls) and deflate again, with
BALLOON_CHANGE and query-balloon following; the guest's memory statistics
reach qom-get guest-stats, fresh ones with guest-stats-polling-interval.
One boot carries it all, as boots on the software CPU take a while."""

import re
import subprocess
import time

import pytest

from qmp import QMPClient, QMPError
from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess, vireo_binary

PROMPT = r"vireo-guest:/# "
MEM_MB = 256
MiB = 1 << 20


def rss_anon_mb(pid):
    """The VMM's anonymous resident memory (guest RAM is anonymous)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/PID/status")


def shell(vm, cmd, tag, timeout=120):
    """Runs cmd on the guest's console and waits until it finished."""
    vm.send(f"{cmd}; echo {tag}-done=$?\n")
    m = vm.expect(rf"{tag}-done=(\d+)\r?\n", timeout=timeout)
    assert m, vm.output
    return int(m.group(1))


def wait_rss_below(pid, limit_mb, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rss = rss_anon_mb(pid)
        if rss < limit_mb:
            return rss
        time.sleep(0.5)
    return rss_anon_mb(pid)


def wait_actual(c, want, timeout):
    """Waits until query-balloon says the guest is left with want bytes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        actual = c.cmd("query-balloon")["actual"]
        if actual == want:
            return actual
        time.sleep(0.5)
    return c.cmd("query-balloon")["actual"]


STAT_NAMES = ["stat-swap-in", "stat-swap-out", "stat-major-faults",
              "stat-minor-faults", "stat-free-memory", "stat-total-memory",
              "stat-available-memory", "stat-disk-caches",
              "stat-htlb-pgalloc", "stat-htlb-pgfail"]


def guest_stats(c, path="/machine/peripheral/bal"):
    return c.cmd("qom-get", {"path": path, "property": "guest-stats"})


def wait_stats_update(c, after, timeout):
    """Waits for statistics newer than after (host seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = guest_stats(c)
        if st["last-update"] > after:
            return st
        time.sleep(0.5)
    return guest_stats(c)


def test_stats_properties_without_a_guest(tmp_path):
    """QEMU's polling property: -device sets it, qom-set changes it, bad
    values get QEMU's errors; no statistics yet reads as -1 everywhere."""
    sock = tmp_path / "q.sock"
    base = [vireo_binary(), "-M", "pc", "-accel", "tcg", "-display", "none",
            "-nodefaults", "-S"]
    vm = VMProcess(base + ["-device", "virtio-balloon-pci,id=bal,"
                           "guest-stats-polling-interval=3",
                           "-qmp", f"unix:{sock},server=on,wait=off"],
                   stdin=False)
    with vm, QMPClient(sock) as c:
        path = "/machine/peripheral/bal"
        props = {p["name"]: p["type"]
                 for p in c.cmd("qom-list", {"path": path})}
        assert props["guest-stats"] == "any"
        assert props["guest-stats-polling-interval"] == "int"
        get = {"path": path, "property": "guest-stats-polling-interval"}
        assert c.cmd("qom-get", get) == 3
        assert guest_stats(c) == {"stats": {n: -1 for n in STAT_NAMES},
                                  "last-update": 0}
        c.cmd("qom-set", {**get, "value": 0})
        assert c.cmd("qom-get", get) == 0
        for value, msg in [(-1, "timer value must be greater than zero"),
                           (1 << 32, "timer value is too big"),
                           ("x", "Invalid parameter type for 'guest-stats-"
                            "polling-interval', expected: integer")]:
            with pytest.raises(QMPError, match=msg):
                c.cmd("qom-set", {**get, "value": value})
        assert c.cmd("qom-get", get) == 0
        with pytest.raises(QMPError, match="Property 'virtio-balloon-pci."
                           "guest-stats' is not writable"):
            c.cmd("qom-set", {"path": path, "property": "guest-stats",
                              "value": {}})
        with pytest.raises(QMPError, match="after it was realized"):
            c.cmd("qom-set", {"path": path, "property": "deflate-on-oom",
                              "value": True})
        with pytest.raises(QMPError, match="Property 'virtio-balloon-pci."
                           "nope' not found"):
            c.cmd("qom-set", {"path": path, "property": "nope", "value": 1})
        # HMP's twins, as QEMU 7.2 prints them
        hmp_path = "/machine/peripheral/bal guest-stats-polling-interval"
        assert c.hmp(f"qom-set {hmp_path} 4") == ""
        assert c.hmp(f"qom-get {hmp_path}") == "4\r\n"
        assert c.hmp(f"qom-set -j {hmp_path} 5") == ""
        assert c.hmp(f"qom-get {hmp_path}") == "5\r\n"
        assert c.hmp(f"qom-set {hmp_path} -1") == \
            "Error: timer value must be greater than zero\r\n"
        assert c.hmp(f"qom-set -j {hmp_path} [").startswith(
            "Error: JSON parse error")
        assert '    "last-update": 0\r\n' in \
            c.hmp("qom-get /machine/peripheral/bal guest-stats")
        assert c.hmp("qom-list /machine/peripheral") == \
            "type (string)\r\nbal (child<virtio-balloon-pci>)\r\n"
        assert c.hmp("qom-list") == "/\r\n"
        c.cmd("quit")
    r = subprocess.run(base + ["-device", "virtio-balloon-pci,"
                               "guest-stats-polling-interval=-5"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1, r
    assert "guest-stats-polling-interval: timer value must be greater " \
        "than zero" in r.stderr, r.stderr


def test_reset_gives_guest_ram_back(tmp_path):
    """A reset gives guest RAM back to the host: the test kernel writes
    every free page of its 256 MiB, and after system_reset the VMM holds
    little again. The direct-boot kernel is loaded again and runs."""
    import testkernel
    kernel = testkernel.build()["elf"]
    sock = tmp_path / "q.sock"
    args = [vireo_binary(), "-M", "pc", "-accel", "tcg", "-m", "256",
            "-display", "none", "-nodefaults", "-serial", "stdio",
            "-kernel", str(kernel), "-append",
            "test=none action=dirty dirty_ws=1M",
            "-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert vm.expect(r"DIRTY t=", timeout=60), vm.output
        full = rss_anon_mb(vm.proc.pid)
        assert full > 200, full
        c.cmd("stop")
        c.cmd("system_reset")
        c.wait_event("RESET", timeout=30)
        after = rss_anon_mb(vm.proc.pid)
        print(f"reset: RssAnon {full:.0f} MiB before, {after:.0f} MiB after")
        assert after < 48, (full, after)
        mark = len(vm.output)
        c.cmd("cont")
        assert vm.expect(r"DIRTY t=", timeout=60), vm.output[mark:]
        c.cmd("quit")


@pytest.mark.slow
def test_free_page_reporting_and_balloon_give_memory_back(vireo_binary,
                                                          debian_guest,
                                                          tmp_path):
    sock = tmp_path / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      "console=ttyS0 vireo.task=shell", mem_mb=MEM_MB) + \
        ["-device", "virtio-balloon-pci,id=bal,free-page-reporting=on",
         "-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert vm.expect(PROMPT, timeout=TIMEOUT), vm.output
        pid = vm.proc.pid
        # the driver is bound and found the reporting queue
        assert shell(vm, "ls /sys/bus/virtio/drivers/virtio_balloon/ | "
                     "grep -q virtio", "bound") == 0, vm.output
        assert c.cmd("query-balloon") == {"actual": MEM_MB * MiB}

        # the statistics the driver sent when it started, then fresh ones
        # every second once polling is on
        st = guest_stats(c)
        total = st["stats"]["stat-total-memory"]
        assert 200 * MiB < total <= MEM_MB * MiB, st
        assert 0 < st["stats"]["stat-free-memory"] < total, st
        assert st["last-update"] > 0, st
        c.cmd("qom-set", {"path": "/machine/peripheral/bal",
                          "property": "guest-stats-polling-interval",
                          "value": 1})
        fresh = wait_stats_update(c, st["last-update"], timeout=30)
        assert fresh["last-update"] > st["last-update"], (st, fresh)
        assert fresh["stats"]["stat-total-memory"] == total, fresh
        shell(vm, "mkdir -p /mnt/fill && mount -t tmpfs -o size=200m "
              "tmpfs /mnt/fill", "mnt")

        # fill 150 MiB and free it: reporting gives most of it back
        base = rss_anon_mb(pid)
        assert shell(vm, "dd if=/dev/zero of=/mnt/fill/f bs=1M count=150 "
                     "2>/dev/null", "fill1") == 0, vm.output
        full = rss_anon_mb(pid)
        assert full > base + 120, (base, full)
        # the guest's statistics see its 150 MiB go
        filled = wait_stats_update(c, int(time.time()), timeout=30)
        assert filled["stats"]["stat-free-memory"] < \
            fresh["stats"]["stat-free-memory"] - 100 * MiB, (fresh, filled)
        shell(vm, "rm /mnt/fill/f", "rm1")
        after = wait_rss_below(pid, full - 100, timeout=60)
        print(f"free page reporting: RssAnon base {base:.0f} MiB, filled "
              f"{full:.0f} MiB, after free {after:.0f} MiB")
        assert after < full - 100, (base, full, after)

        # without reporting (the guest's page_reporting_order past its
        # largest order) freed memory stays with the VMM: the balloon
        # takes it back
        order = "/sys/module/page_reporting/parameters/page_reporting_order"
        reporting_off = shell(vm, f"echo 11 > {order}", "order") == 0
        shell(vm, "dd if=/dev/zero of=/mnt/fill/f bs=1M count=150 "
              "2>/dev/null; rm /mnt/fill/f", "fill2")
        full = rss_anon_mb(pid)
        if reporting_off:
            time.sleep(4)       # longer than the reporting delay (2 s)
            assert rss_anon_mb(pid) > full - 30, (full, rss_anon_mb(pid))

        c.cmd("balloon", {"value": 128 * MiB})
        ev = c.wait_event("BALLOON_CHANGE", timeout=60)
        assert 0 < ev["data"]["actual"] < MEM_MB * MiB, ev
        actual = wait_actual(c, 128 * MiB, timeout=120)
        assert actual == 128 * MiB, actual
        assert c.hmp("info balloon") == "balloon: actual=128\r\n"
        inflated = rss_anon_mb(pid)
        print(f"balloon 128: RssAnon {full:.0f} MiB before, "
              f"{inflated:.0f} MiB after")
        if reporting_off:
            assert inflated < full - 64, (full, inflated)
        else:
            assert inflated <= full + 8, (full, inflated)
        # the guest sees less memory now
        shell(vm, "grep MemFree /proc/meminfo", "meminfo")

        # deflate: the guest gets its memory back
        c.hmp("balloon 256")
        actual = wait_actual(c, MEM_MB * MiB, timeout=120)
        assert actual == MEM_MB * MiB, actual
        assert re.search(r"actual=256", c.hmp("info balloon"))
        assert shell(vm, "dd if=/dev/zero of=/mnt/fill/f bs=1M count=150 "
                     "2>/dev/null && rm /mnt/fill/f", "fill3") == 0, \
            vm.output
