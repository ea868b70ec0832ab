#!/usr/bin/env python3
"""Soak: the Debian test guest under disk, network, console and timer load
at once for --minutes (default 10), while the host queries the monitors in
a loop; Vireo must end with no leak, no error and every data check passed.

The guest (pc, virtio-blk on a qcow2 image, virtio-net over slirp,
virtio-balloon, the serial console) runs four loops side by side:
  disk     writes 1 MiB of random data to one of 8 slots of the disk,
           fsyncs, drops the page cache and reads it back: the checksums
           must match; each slot's previous contents are checked before
           they are overwritten (what was written stays written)
  net      downloads a 1 MiB file from an HTTP server on the host (its
           sha256 must be the host's) and uploads 256 KiB of random data
           to a host listener that answers with its sha256
  console  prints numbered lines that carry their own checksum: none may
           be missing or damaged
  timer    prints the guest's uptime every second (sleep 1): the guest's
           clock must follow the host's
The host meanwhile loops QMP queries (query-status, query-block,
query-blockstats, query-cpus-fast, query-balloon, qom-list, qom-get) and
every tenth time HMP `info` commands, and samples Vireo's memory every two
seconds.

Leak check: the VMM's own resident memory (VmRSS less the guest's RAM,
which the guest may touch more of at any time without any leak) after a
warm-up (a quarter of the run, at least 45 s) must stay flat: the
least-squares slope over the rest of the run at most --max-slope KiB/min
(default 256: a leak of 100 bytes per monitor command at this command
rate is above it; allocator noise stays well below) and the open file
descriptors no more than 4 above the warm-up's (connections in flight). Any error reply, failed check,
Vireo warning or guest kernel message of trouble fails the run.

Usage: tests/soak/soak.py [--minutes N] [--json FILE] [--keep]
Environment: VIREO (binary), VIREO_BUILD_DIR, VIREO_GUEST_CACHE, as the
functional tests; VIREO_DEBIAN_ACCEL=kvm|tcg.
"""

import argparse
import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional"))
import vmrun  # noqa: E402
from qmp import QMPClient  # noqa: E402

MEM_MB = 512
DISK_SLOTS = 8              # 1 MiB each, all written early in the run
BLOB_BYTES = 1 << 20        # downloaded by the guest
SAMPLE_S = 2.0
# the loads reach a steady state (slirp's sockets in TIME_WAIT, the
# image's clusters all allocated, the caches full) in about 30 s
WARMUP_MIN_S = 45
# open files vary by the connections in flight and lingering
FD_SLACK = 4
HMP_EVERY = 10              # QMP rounds per HMP round

# A kernel line that means trouble, whatever the loops report.
GUEST_TROUBLE = re.compile(
    r"BUG:|Oops|WARNING:|Call Trace|Kernel panic|I/O error|"
    r"blk_update_request|buffer I/O|hung task|soft lockup|rcu.*stall|"
    r"segfault|Out of memory|oom-kill|clocksource.*unstable|"
    r"NETDEV WATCHDOG|virtio.*(error|broken)|EXT4-fs error", re.I)

GUEST_SCRIPT = r"""
disk() { for d in /sys/block/vd*; do
    [ "$(cat $d/serial)" = "$1" ] && echo /dev/${d##*/}; done; }
D=$(disk soak)
# kernel messages go to dmesg only (a message in the middle of a console
# line would damage it); dmesg is printed at the end for the host to read
echo 1 >/proc/sys/kernel/printk
ip link set eth0 up
udhcpc -i eth0 -n -q -s /bin/true >/dev/null 2>&1
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
read up _ </proc/uptime
end=$(( ${up%.*} + @SECONDS@ ))
running() { read up _ </proc/uptime; [ ${up%.*} -lt $end ]; }
echo SOAK-START disk=$D

disk_loop() {
    i=0
    while running; do
        i=$((i+1)); slot=$((i % @SLOTS@)); st=ok
        if [ -e /tmp/slot$slot ]; then
            echo 1 >/proc/sys/vm/drop_caches
            old=$(dd if=$D bs=64k skip=$((slot*16)) count=16 2>/dev/null |
                md5sum | cut -c1-32)
            [ "$old" = "$(cat /tmp/slot$slot)" ] || st=OLD-BAD
        fi
        dd if=/dev/urandom of=/tmp/dw bs=64k count=16 2>/dev/null
        a=$(md5sum </tmp/dw | cut -c1-32)
        dd if=/tmp/dw of=$D bs=64k seek=$((slot*16)) conv=notrunc,fsync \
            2>/dev/null || st=WRITE-ERROR
        echo 1 >/proc/sys/vm/drop_caches
        b=$(dd if=$D bs=64k skip=$((slot*16)) count=16 2>/dev/null |
            md5sum | cut -c1-32)
        [ "$a" = "$b" ] || st=BAD
        echo $a >/tmp/slot$slot
        echo SOAK-DISK $i $st
    done
}

net_loop() {
    i=0
    while running; do
        i=$((i+1))
        g=$(wget -q -O - http://10.0.2.2:@HTTP@/blob | sha256sum | cut -c1-64)
        echo SOAK-NET-DOWN $i $g
        dd if=/dev/urandom of=/tmp/up bs=64k count=4 2>/dev/null
        u=$(sha256sum </tmp/up | cut -c1-64)
        r=$(nc 10.0.2.2 @UPLOAD@ </tmp/up)
        [ "$r" = "$u" ] && echo SOAK-NET-UP $i ok || echo SOAK-NET-UP $i BAD $r
    done
}

console_loop() {
    i=0
    while running; do
        i=$((i+1))
        p=line-$i-abcdefghijklmnopqrstuvwxyz-0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ
        echo SOAK-CON $i $(printf %s $p | md5sum | cut -c1-8) $p
        usleep 100000
    done
}

timer_loop() {
    i=0
    while running; do
        i=$((i+1))
        read up _ </proc/uptime
        echo SOAK-TIME $i $up
        sleep 1
    done
}

disk_loop & net_loop & console_loop & timer_loop &
wait
echo SOAK-DMESG-BEGIN
dmesg
echo SOAK-DMESG-END
echo SOAK-GUEST-DONE
"""


def log(msg):
    print(f"soak: {msg}", flush=True)


# ---- host servers -------------------------------------------------------

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def start_http(directory):
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        functools.partial(QuietHandler, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


class UploadServer:
    """Answers each connection with the sha256 of what it sent."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.count = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        h = hashlib.sha256()
        with conn:
            conn.settimeout(120)
            try:
                while chunk := conn.recv(65536):
                    h.update(chunk)
                conn.sendall(h.hexdigest().encode() + b"\n")
                self.count += 1
            except OSError:
                pass

    def close(self):
        self.sock.close()


# ---- what the host watches ----------------------------------------------

def guest_ram_kb(smaps_path, mem_mb):
    """Resident KiB of the mappings at least as large as the guest's RAM
    (the guest's memory; the VMM allocates nothing that large)."""
    total, big = 0, False
    with open(smaps_path) as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
            if m:
                size = int(m.group(2), 16) - int(m.group(1), 16)
                big = size >= mem_mb << 20
            elif big and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total


def fd_targets(pid):
    """What the process has open: path, socket:[inode], anon_inode:..."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass        # closed meanwhile
    return sorted(out)


def sample(pid, mem_mb):
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.split()
    pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    rss = int(status["VmRSS"][0])
    guest = guest_ram_kb(f"/proc/{pid}/smaps", mem_mb)
    return {"t": time.monotonic(), "rss_kb": rss, "pss_kb": pss,
            "guest_kb": guest, "vmm_kb": rss - guest,
            "fds": len(fd_targets(pid)), "fd_targets": fd_targets(pid),
            "threads": int(status["Threads"][0])}


def slope_per_min(points):
    """Least-squares slope of (seconds, KiB) points, in KiB per minute."""
    if len(points) < 3:
        return 0.0
    mt = statistics.fmean(t for t, _ in points)
    mv = statistics.fmean(v for _, v in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    if den == 0:
        return 0.0
    return 60 * sum((t - mt) * (v - mv) for t, v in points) / den


class Monitor(threading.Thread):
    """QMP queries in a loop, HMP info commands every HMP_EVERY rounds,
    memory samples every SAMPLE_S seconds."""

    QUERIES = [("query-status", None), ("query-block", None),
               ("query-blockstats", None), ("query-cpus-fast", None),
               ("query-balloon", None),
               ("qom-list", {"path": "/machine"}),
               ("qom-get", {"path": "/machine", "property": "type"})]
    HMP = ["info status", "info block", "info blockstats", "info cpus",
           "info balloon", "info registers", "info chardev", "info pci"]

    def __init__(self, qmp_path, pid, mem_mb):
        super().__init__(daemon=True)
        self.qmp = QMPClient(qmp_path)
        self.pid, self.mem_mb = pid, mem_mb
        self.stop = threading.Event()
        self.counts = {name: 0 for name, _ in self.QUERIES}
        self.counts["hmp"] = 0
        self.errors = []
        self.samples = []

    def run(self):
        rounds, next_sample = 0, 0
        try:
            while not self.stop.is_set():
                if time.monotonic() >= next_sample:
                    self.samples.append(sample(self.pid, self.mem_mb))
                    next_sample = time.monotonic() + SAMPLE_S
                for name, args in self.QUERIES:
                    rsp = self.qmp.execute(name, args, timeout=30)
                    if "return" not in rsp:
                        self.errors.append(f"{name}: {rsp}")
                    self.counts[name] += 1
                rounds += 1
                if rounds % HMP_EVERY == 0:
                    for line in self.HMP:
                        out = self.qmp.hmp(line)
                        if "unknown command" in out or "rror" in out:
                            self.errors.append(f"HMP {line}: {out[:200]}")
                        self.counts["hmp"] += 1
                if self.qmp.events:
                    self.errors += [f"event {e}" for e in self.qmp.events
                                    if e["event"] != "BALLOON_CHANGE"]
                    self.qmp.events.clear()
                time.sleep(0.02)
        except Exception as e:  # noqa: BLE001 - reported, fails the run
            self.errors.append(f"monitor loop: {e!r}")


# ---- the run --------------------------------------------------------------

def accel_args():
    forced = os.environ.get("VIREO_DEBIAN_ACCEL")
    kvm = forced == "kvm" or (forced != "tcg" and
                              vmrun.kvm_runs_stock_linux()[0])
    return ["-enable-kvm", "-cpu", "host"] if kvm else ["-accel", "tcg"]


def make_disk(path, size):
    tool = shutil.which("qemu-img") or str(vmrun.BUILD_DIR / "vireo-img")
    subprocess.run([tool, "create", "-q", "-f", "qcow2", str(path),
                    str(size)], check=True)


def check_output(out, host_time, blob_sha):
    """Every data check of the guest's loops; returns (counts, failures)."""
    fails, counts = [], {}
    lines = out.replace("\r", "").splitlines()

    disk = [line.split()[1:] for line in lines
            if line.startswith("SOAK-DISK ")]
    counts["disk"] = len(disk)
    fails += [f"disk iteration {i}: {st}" for i, st in disk if st != "ok"]

    down = [line.split()[1:] for line in lines
            if line.startswith("SOAK-NET-DOWN ")]
    counts["net_down"] = len(down)
    fails += [f"download {i}: sha256 {g}" for i, g in down
              if g != blob_sha]
    up = [line.split()[1:] for line in lines
          if line.startswith("SOAK-NET-UP ")]
    counts["net_up"] = len(up)
    fails += [f"upload {w[0]}: {' '.join(w[1:])}" for w in up
              if w[1] != "ok"]

    con = [m for m in (re.match(r"SOAK-CON (\d+) (\S+) (\S+)$", line)
                       for line in lines) if m]
    counts["console"] = len(con)
    for m in con:
        if hashlib.md5(m.group(3).encode()).hexdigest()[:8] != m.group(2):
            fails.append(f"console line {m.group(1)} damaged: "
                         f"{m.group(0)!r}")
    seq = [int(m.group(1)) for m in con]
    if seq != list(range(1, len(seq) + 1)):
        missing = sorted(set(range(1, max(seq, default=0) + 1)) - set(seq))
        fails.append(f"console lines missing or out of order: "
                     f"{missing[:10]}")

    ticks = [(int(n), float(up_)) for n, up_ in
             re.findall(r"^SOAK-TIME (\d+) ([\d.]+)$", "\n".join(lines),
                        re.M)]
    counts["timer"] = len(ticks)
    drift = None
    if len(ticks) >= 2 and len(host_time) >= 2:
        # guest uptime against the host's clock at the lines' arrival
        n0, n1 = min(host_time), max(host_time)
        g = dict(ticks)
        if n0 in g and n1 in g:
            dg = g[n1] - g[n0]
            dh = host_time[n1] - host_time[n0]
            drift = dg - dh
            if abs(drift) > 2 + 0.01 * dh:
                fails.append(f"guest clock moved {dg:.1f}s while the "
                             f"host's moved {dh:.1f}s")
        gaps = [host_time[b] - host_time[a] for a, b in
                zip(sorted(host_time), sorted(host_time)[1:])]
        if gaps and max(gaps) > 15:
            fails.append(f"the timer loop stalled for {max(gaps):.0f}s")
    for what in ("disk", "net_down", "net_up", "console", "timer"):
        if counts[what] == 0:
            fails.append(f"the {what} loop never ran")
    # the console between the loops' lines, and the kernel's log
    trouble = [line for line in lines if GUEST_TROUBLE.search(line)]
    if "SOAK-DMESG-END" not in out:
        fails.append("the guest's kernel log is missing")
    fails += [f"guest: {line}" for line in trouble[:10]]
    vireo = [line for line in lines if line.startswith("vireo:")]
    fails += [f"vireo said: {line}" for line in vireo[:10]]
    return counts, drift, fails


def leak_check(samples, warm_end, max_slope):
    after = [s for s in samples if s["t"] >= warm_end]
    fails = []
    if len(after) < 5:
        return {}, ["too few memory samples after the warm-up"]
    t0 = after[0]["t"]
    slope = slope_per_min([(s["t"] - t0, s["vmm_kb"]) for s in after])
    rss_slope = slope_per_min([(s["t"] - t0, s["rss_kb"]) for s in after])
    res = {"warm": after[0], "end": after[-1], "slope_kb_min": slope,
           "rss_slope_kb_min": rss_slope,
           "window_s": after[-1]["t"] - t0}
    if slope > max_slope:
        fails.append(f"the VMM's memory grows {slope:.0f} KiB/min after "
                     f"the warm-up (limit {max_slope})")
    if after[-1]["fds"] > after[0]["fds"] + FD_SLACK:
        fails.append(f"open files went from {after[0]['fds']} to "
                     f"{after[-1]['fds']}")
    return res, fails


def run(args):
    if not vmrun.vireo_built():
        log(f"{vmrun.vireo_binary()} is not built")
        return 2
    guest = vmrun.build_debian_guest()
    seconds = int(args.minutes * 60)
    work = Path(tempfile.mkdtemp(prefix="vireo-soak-"))
    blob = os.urandom(BLOB_BYTES)
    (work / "blob").write_bytes(blob)
    blob_sha = hashlib.sha256(blob).hexdigest()
    httpd = start_http(work)
    upload = UploadServer()
    script = (GUEST_SCRIPT.replace("@SECONDS@", str(seconds))
              .replace("@SLOTS@", str(DISK_SLOTS))
              .replace("@HTTP@", str(httpd.server_address[1]))
              .replace("@UPLOAD@", str(upload.port)))
    with open(work / "script.img", "wb") as f:
        f.write(script.encode())
        f.truncate(64 << 10)
    make_disk(work / "soak.qcow2", (DISK_SLOTS + 8) << 20)
    qmp_path = work / "qmp.sock"
    cmd = ("for d in /sys/block/vd*; do [ $(cat $d/serial) = script ] && "
           "tr -d \\\\000 < /dev/${d##*/} > /s.sh; done; sh /s.sh")
    vm_args = [
        vmrun.vireo_binary(), "-M", "pc", *accel_args(), "-m", str(MEM_MB),
        "-kernel", guest["vmlinuz"], "-initrd", guest["initrd"],
        "-append", f'console=ttyS0 vireo.task=cmd vireo.cmd="{cmd}"',
        "-nographic",
        "-drive", f"file={work / 'script.img'},format=raw,if=none,"
                  "id=script,readonly=on",
        "-device", "virtio-blk-pci,drive=script,serial=script",
        "-drive", f"file={work / 'soak.qcow2'},format=qcow2,if=none,id=soak",
        "-device", "virtio-blk-pci,drive=soak,serial=soak",
        "-netdev", "user,id=n0",
        "-device", "virtio-net-pci,netdev=n0",
        "-device", "virtio-balloon-pci",
        "-qmp", f"unix:{qmp_path},server=on,wait=off"]
    log(f"{seconds}s of load on {' '.join(accel_args())}; work folder {work}")
    fails, result = [], {}
    host_time = {}
    t_start = time.monotonic()
    with vmrun.VMProcess(vm_args) as vm:
        mon = Monitor(qmp_path, vm.proc.pid, MEM_MB)
        mon.start()
        if not vm.expect(r"SOAK-START", timeout=args.boot_timeout):
            mon.stop.set()
            log(f"the guest did not start its loads:\n{vm.output[-3000:]}")
            return 1
        t_load = time.monotonic()
        log(f"guest up in {t_load - t_start:.0f}s; loads running")
        warm_end = t_load + max(WARMUP_MIN_S, seconds / 4)
        seen = 0
        deadline = t_load + seconds + 300
        done = None
        while time.monotonic() < deadline:
            # the host's clock when each timer line arrives
            out = vm.output
            for m in re.finditer(r"^SOAK-TIME (\d+) ", out[seen:], re.M):
                host_time.setdefault(int(m.group(1)), time.monotonic())
            seen = max(seen, out.rfind("\n") + 1)
            done = vm.expect(r"VIREO-CMD-EXIT status=\d+", timeout=0.2)
            if done or vm.proc.poll() is not None:
                break
        mon.stop.set()
        mon.join(timeout=60)
        r = vm.wait(timeout=120 if done else 5)
    httpd.shutdown()
    upload.close()
    if not done:
        fails.append("the guest did not finish its loads in time")
    if "SOAK-GUEST-DONE" not in r.output:
        fails.append("the guest's loops did not all end")
    if r.returncode != 0:
        fails.append(f"vireo exited with {r.returncode}")
    if "VIREO-CMD-EXIT status=0" not in r.output:
        fails.append("the guest's script failed")
    counts, drift, out_fails = check_output(r.output, host_time, blob_sha)
    fails += out_fails
    fails += mon.errors[:20]
    leak, leak_fails = leak_check(mon.samples, warm_end, args.max_slope)
    fails += leak_fails

    load_s = time.monotonic() - t_load
    qmp_total = sum(v for k, v in mon.counts.items() if k != "hmp")
    result = {"seconds": seconds, "load_s": load_s, "counts": counts,
              "qmp": mon.counts, "qmp_total": qmp_total,
              "clock_drift_s": drift, "leak": leak,
              "samples": mon.samples, "failures": fails}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    if args.keep or fails:
        (work / "output.txt").write_text(r.output)
    if not args.keep and not fails:
        shutil.rmtree(work, ignore_errors=True)

    print(summary(result, work if (args.keep or fails) else None))
    return 1 if fails else 0


def summary(res, work):
    c, leak = res["counts"], res["leak"]
    lines = [
        "",
        "==== Vireo soak ====",
        f"load          {res['load_s']:.0f} s (guest loops {res['seconds']}"
        f" s)",
        f"disk          {c.get('disk', 0)} x 1 MiB written, read back, "
        "checked",
        f"network       {c.get('net_down', 0)} downloads of 1 MiB, "
        f"{c.get('net_up', 0)} uploads of 256 KiB, checked",
        f"console       {c.get('console', 0)} lines, checked",
        f"timer         {c.get('timer', 0)} ticks; guest clock - host "
        "clock: " + (f"{res['clock_drift_s']:+.2f} s"
                     if res["clock_drift_s"] is not None else "n/a"),
        f"monitor       {res['qmp_total']} QMP commands, "
        f"{res['qmp'].get('hmp', 0)} HMP commands",
    ]
    if leak:
        w, e = leak["warm"], leak["end"]
        lines += [
            f"memory        after warm-up: RSS {w['rss_kb'] / 1024:.1f} "
            f"MiB (VMM {w['vmm_kb'] / 1024:.1f} MiB, PSS "
            f"{w['pss_kb'] / 1024:.1f} MiB), fds {w['fds']}, threads "
            f"{w['threads']}",
            f"              at the end:    RSS {e['rss_kb'] / 1024:.1f} "
            f"MiB (VMM {e['vmm_kb'] / 1024:.1f} MiB, PSS "
            f"{e['pss_kb'] / 1024:.1f} MiB), fds {e['fds']}, threads "
            f"{e['threads']}",
            f"              VMM slope {leak['slope_kb_min']:+.0f} KiB/min "
            f"over {leak['window_s']:.0f} s (RSS with guest RAM "
            f"{leak['rss_slope_kb_min']:+.0f} KiB/min)",
        ]
    if res["failures"]:
        lines.append(f"FAILED ({len(res['failures'])}):")
        lines += [f"  {f}" for f in res["failures"][:40]]
    else:
        lines.append("PASSED")
    if work:
        lines.append(f"output and files in {work}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10,
                   help="how long the guest's loads run (default 10)")
    p.add_argument("--max-slope", type=float, default=256,
                   help="KiB/min the VMM's memory may grow after the "
                        "warm-up (default 256)")
    p.add_argument("--boot-timeout", type=float, default=600)
    p.add_argument("--json", help="write the results to this file")
    p.add_argument("--keep", action="store_true",
                   help="keep the work folder (it is kept on failure)")
    return run(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
