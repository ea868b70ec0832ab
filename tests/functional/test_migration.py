"""Migration between Vireo processes with a busy Debian guest: the guest
prints a counter to its serial console every 0.2 s and checks the MD5 of a
1 MiB buffer in tmpfs each time (MIG-TICK N ok|BAD). One boot is shared:
the guest moves from process to process through the tests (unix:, tcp:,
exec:, file:), and after each move the counter must go on from where it
was, without a reboot, with the checksum still right. Failure paths
(cancel, a killed destination, a mismatched destination) must leave the
source running; a destination fed garbage or a truncated stream must exit
non-zero with a clear error.

The guest also writes its virtio disk, a qcow2 image that every process
opens WITHOUT file.locking=off: each tick writes 64 KiB into a new cluster
(so clusters are allocated while RAM is copied) and reads back, past the
page cache, the block written five ticks before; a tick is ok only when
both the memory and the disk check hold. The images are handed over as
QEMU does: the destination opens them inactive (no locks) and activates
them (locks taken, qcow2 metadata re-read) only once the source, stopped,
has flushed and released them. At the end qemu-img check finds the image
clean.

Runs under KVM when the host's KVM runs a stock Linux kernel, otherwise on
the software CPU (-accel tcg), like test_debian_guest.py.
"""

import fcntl
import os
import re
import socket
import struct
import subprocess
import time

import pytest

import vmrun
from qmp import QMPClient

if vmrun.kvm_runs_stock_linux()[0] and \
        os.environ.get("VIREO_DEBIAN_ACCEL") != "tcg":
    ACCEL_ARGS = ["-enable-kvm", "-cpu", "host"]
else:
    ACCEL_ARGS = ["-accel", "tcg"]

MEM_MB = 256
BOOT_TIMEOUT = 300
# A busybox loop (no double quotes: vireo.cmd="..." carries it).
WORKLOAD = ("dd if=/dev/urandom of=/run/buf bs=1k count=1024 2>/dev/null; "
            "s=$(md5sum </run/buf | cut -c1-32); i=0; "
            "while :; do i=$((i+1)); "
            "t=$(md5sum </run/buf | cut -c1-32); "
            "printf %-65536s blk$i >/run/w; "
            "dd if=/run/w of=/dev/vda bs=64k seek=$((i%1000)) "
            "conv=notrunc,fsync 2>/dev/null || t=w; "
            "j=$((i-5)); if [ $j -gt 0 ]; then "
            "echo 1 >/proc/sys/vm/drop_caches; "
            "u=$(dd if=/dev/vda bs=64k skip=$((j%1000)) count=1 2>/dev/null"
            " | md5sum | cut -c1-32); "
            "v=$(printf %-65536s blk$j | md5sum | cut -c1-32); "
            "[ $u = $v ] || t=r; fi; "
            "[ $t = $s ] && echo MIG-TICK $i ok || echo MIG-TICK $i BAD; "
            "usleep 200000; done")
TICK = re.compile(rb"MIG-TICK (\d+) (ok|BAD)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_args(binary, guest, mem=MEM_MB):
    """The command line of every process of the guest (same devices)."""
    return [binary, "-M", "pc", *ACCEL_ARGS, "-m", str(mem),
            "-kernel", guest["vmlinuz"], "-initrd", guest["initrd"],
            "-append", f'console=ttyS0 vireo.task=cmd '
                       f'vireo.cmd="{WORKLOAD}"',
            "-display", "none", "-serial", "stdio", "-monitor", "none",
            # shared by source and destination, locking on (the default)
            "-drive", f"file={guest['disk']},format=qcow2,if=virtio"]


class Guest:
    """One Vireo process of the guest, with its QMP client."""

    def __init__(self, binary, guest, workdir, name, extra=(), mem=MEM_MB):
        self.qmp_path = workdir / f"{name}.qmp"
        args = vm_args(binary, guest, mem) + [
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off", *extra]
        self.vm = vmrun.VMProcess(args)
        self.qmp = QMPClient(self.qmp_path)

    def ticks(self):
        return [(int(n), ok.decode()) for n, ok in
                TICK.findall(self.vm.output.encode())]

    def last_tick(self):
        t = self.ticks()
        return t[-1][0] if t else 0

    def wait_tick_above(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.last_tick() > n:
                return self.last_tick()
            assert self.vm.proc.poll() is None, self.vm.output[-3000:]
            time.sleep(0.1)
        raise AssertionError(f"no MIG-TICK above {n}: "
                             f"{self.vm.output[-3000:]}")

    def migrate_status(self, want, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.qmp.cmd("query-migrate")
            if r.get("status") in want:
                return r
            time.sleep(0.05)
        raise AssertionError(f"migration not {want}: {r}")

    def close(self):
        self.vm.kill()
        self.vm.wait(timeout=10)
        self.qmp.close()


@pytest.fixture(scope="module")
def env(vireo_binary, debian_guest, tmp_path_factory):
    """The guest, booted once; tests move it by setting env["vm"]."""
    workdir = tmp_path_factory.mktemp("mig")
    disk = workdir / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk),
                    "64M"], check=True)
    state = {"binary": vireo_binary,
             "guest": dict(debian_guest, disk=str(disk)), "disk": disk,
             "dir": workdir, "n": 0}
    g = Guest(vireo_binary, state["guest"], workdir, "boot")
    state["vm"] = g
    assert g.vm.expect(rb"MIG-TICK 3 ok", timeout=BOOT_TIMEOUT), \
        g.vm.output[-3000:]
    yield state
    for key in ("vm",):
        if state.get(key):
            state[key].close()


def destination(env, incoming, **kw):
    env["n"] += 1
    return Guest(env["binary"], env["guest"], env["dir"], f"d{env['n']}",
                 extra=["-incoming", incoming], **kw)


def image_locked(env):
    """True when a writer holds the disk, as `qemu-img info` without -U
    sees it (QEMU's and Vireo's lock bytes are the same)."""
    r = subprocess.run(["qemu-img", "info", str(env["disk"])],
                       capture_output=True, text=True, timeout=30)
    if r.returncode == 0:
        return False
    assert 'Failed to get shared "write" lock' in r.stderr, r.stderr
    return True


class WriteBlocker:
    """Another process's claim that nobody else may write the image: an OFD
    read lock on QEMU's "shared write" byte (201), which a process taking
    the write permission must find free."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY)
        flock = struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 201, 1,
                            0)
        fcntl.fcntl(self.fd, fcntl.F_OFD_SETLK, flock)

    def release(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def check_source_runs(src):
    """The source went on: running, its counter still moving, data ok."""
    assert src.qmp.cmd("query-status")["status"] == "running"
    n = src.last_tick()
    src.wait_tick_above(n + 1)
    assert all(ok == "ok" for _, ok in src.ticks())


def handover(env, dst, uri):
    """Migrates env's VM to dst through uri and checks the guest went on
    there; dst becomes env's VM."""
    try:
        _handover(env, dst, uri)
    except BaseException:
        dst.close()
        raise


def _handover(env, dst, uri):
    src = env["vm"]
    before = src.last_tick()
    src.qmp.cmd("migrate", {"uri": uri})
    r = src.migrate_status({"completed", "failed"})
    if r["status"] != "completed":
        time.sleep(1)
    assert r["status"] == "completed", (r, dst.vm.output[-3000:])
    assert src.qmp.cmd("query-status")["status"] == "postmigrate"
    assert r["ram"]["total"] >= MEM_MB << 20
    assert r["ram"]["transferred"] > 0 and "downtime" in r
    info = src.qmp.hmp("info migrate")
    assert "Migration status: completed" in info
    last_on_source = src.last_tick()
    assert last_on_source >= before
    dst.migrate_status({"completed"}, timeout=30)
    assert dst.qmp.cmd("query-status")["status"] == "running"
    # the counter continues on the destination: no reboot, data intact
    dst.wait_tick_above(last_on_source + 2)
    first = dst.ticks()[0][0]
    assert first >= last_on_source - 1, (first, last_on_source)
    assert all(ok == "ok" for _, ok in dst.ticks()), dst.vm.output
    assert "Linux version" not in dst.vm.output
    src.close()
    env["vm"] = dst


def test_cancel_mid_way_source_continues(env):
    src = env["vm"]
    path = env["dir"] / "cancel.sock"
    dst = destination(env, f"unix:{path}")
    try:
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 2 << 20})
        src.qmp.cmd("migrate", {"uri": f"unix:{path}"})
        r1 = src.migrate_status({"active"})
        # live: the guest runs on while its RAM is being copied
        src.wait_tick_above(src.last_tick() + 1)
        r2 = src.qmp.cmd("query-migrate")
        assert r2["status"] == "active", r2
        assert r2["ram"]["transferred"] > r1["ram"]["transferred"]
        assert 0 < r2["ram"]["remaining"] <= r2["ram"]["total"]
        assert "expected-downtime" in r2 and "total-time" in r2
        src.qmp.cmd("migrate_cancel")
        r = src.migrate_status({"cancelled"}, timeout=30)
        assert r["status"] == "cancelled"
        check_source_runs(src)
        # the destination saw a truncated stream: it fails and exits
        res = dst.vm.wait(timeout=30)
        assert res.returncode == 1, res.describe()
        assert "incoming migration failed" in res.output
    finally:
        src.qmp.cmd("migrate-set-parameters",
                    {"max-bandwidth": 128 << 20})
        dst.close()


def test_killed_destination_source_continues(env):
    src = env["vm"]
    path = env["dir"] / "kill.sock"
    dst = destination(env, f"unix:{path}")
    try:
        src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 2 << 20})
        src.qmp.cmd("migrate", {"uri": f"unix:{path}"})
        src.migrate_status({"active"})
        time.sleep(0.3)
        dst.vm.kill()
        r = src.migrate_status({"failed"}, timeout=30)
        assert r["error-desc"], r
        check_source_runs(src)
    finally:
        src.qmp.cmd("migrate-set-parameters",
                    {"max-bandwidth": 128 << 20})
        dst.close()


def test_mismatched_destination_refused(env):
    src = env["vm"]
    path = env["dir"] / "mismatch.sock"
    dst = destination(env, f"unix:{path}", mem=MEM_MB * 2)
    try:
        src.qmp.cmd("migrate", {"uri": f"unix:{path}"})
        r = src.migrate_status({"failed", "completed"}, timeout=30)
        assert r["status"] == "failed", r
        assert "-m differs" in r["error-desc"], r
        check_source_runs(src)
        res = dst.vm.wait(timeout=30)
        assert res.returncode == 1 and "-m differs" in res.output, \
            res.describe()
    finally:
        dst.close()


def test_destination_without_write_lock_fails_cleanly(env):
    """The source hands its disk over, but another process keeps the
    destination from taking the write lock: the migration fails with the
    lock error, the destination exits, and the source takes its disk back
    (on `cont` once the other process let go, like QEMU's)."""
    src = env["vm"]
    path = env["dir"] / "locked.sock"
    dst = destination(env, f"unix:{path}")
    blocker = WriteBlocker(env["disk"])
    try:
        src.qmp.cmd("migrate", {"uri": f"unix:{path}"})
        r = src.migrate_status({"failed", "completed"})
        assert r["status"] == "failed", r
        assert '"write" lock' in r["error-desc"], r
        res = dst.vm.wait(timeout=30)
        assert res.returncode == 1, res.describe()
        assert "taking the disks over" in res.output, res.describe()
        # the other process still holds its claim: the source cannot
        # write either, so it waits paused rather than fail the guest
        st = src.qmp.cmd("query-status")["status"]
        if st != "running":
            blocker.release()
            src.qmp.cmd("cont")
        check_source_runs(src)
    finally:
        blocker.release()
        dst.close()


def test_live_migration_over_unix(env):
    path = env["dir"] / "live.sock"
    # the source, running, holds the write lock; a destination waiting
    # for the state starts all the same: it holds no lock yet
    assert image_locked(env)
    dst = destination(env, f"unix:{path}")
    handover(env, dst, f"unix:{path}")
    # the destination took the lock over
    assert image_locked(env)


def test_live_migration_over_tcp(env):
    port = free_port()
    dst = destination(env, f"tcp:127.0.0.1:{port}")
    handover(env, dst, f"tcp:127.0.0.1:{port}")


def test_migration_through_exec(env):
    path = env["dir"] / "exec.state"
    src = env["vm"]
    src.qmp.cmd("migrate", {"uri": f"exec:cat > {path}"})
    r = src.migrate_status({"completed", "failed"})
    assert r["status"] == "completed", r
    # exec: has no return path: the source completes once it wrote it all
    last = src.last_tick()
    src.close()
    env["vm"] = dst = destination(env, f"exec:cat {path}")
    dst.migrate_status({"completed"}, timeout=60)
    dst.wait_tick_above(last + 2)
    assert all(ok == "ok" for _, ok in dst.ticks())


def test_file_migrate_then_restore_later(env):
    path = env["dir"] / "vm.state"
    src = env["vm"]
    src.qmp.cmd("migrate", {"uri": f"file:{path}"})
    r = src.migrate_status({"completed", "failed"})
    assert r["status"] == "completed", r
    last = src.last_tick()
    # postmigrate: the source flushed its disk and let go of it, and takes
    # no snapshot of an image it no longer owns
    assert not image_locked(env)
    assert "not active in this process" in src.qmp.hmp("savevm x")
    # QEMU's `cont` there takes the disk back: the guest runs and writes
    # it again (later ticks use other blocks than the restored guest
    # reads back); then the source quits, closing the image cleanly
    src.qmp.cmd("cont")
    assert image_locked(env)
    src.wait_tick_above(src.last_tick() + 2)
    assert all(ok == "ok" for _, ok in src.ticks()), src.vm.output[-3000:]
    src.qmp.cmd("quit")
    src.vm.wait(timeout=30)
    src.close()
    env["vm"] = None
    env["state_file"] = path
    dst = destination(env, "defer")
    env["vm"] = dst
    assert dst.qmp.cmd("query-status")["status"] == "inmigrate"
    dst.qmp.cmd("migrate-incoming", {"uri": f"file:{path}"})
    dst.migrate_status({"completed"}, timeout=60)
    dst.wait_tick_above(last + 2)
    assert all(ok == "ok" for _, ok in dst.ticks())


def disk_block(env, n):
    """The 64 KiB block the guest's tick n writes, as the image holds it
    now (read past the running process's lock, as qemu-img -U does)."""
    raw = env["dir"] / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw",
                    str(env["disk"]), str(raw)], check=True, timeout=60)
    with open(raw, "rb") as f:
        f.seek((n % 1000) * 65536)
        data = f.read(65536)
    raw.unlink()
    return data


def ticks_after(g, pos):
    return [(int(n), ok.decode()) for n, ok in
            TICK.findall(g.vm.output[pos:].encode())]


def check_back_at_snapshot(g, pos, first, last, later):
    """After a load: the counter goes on from the snapshot's tick (between
    first and last), below the ticks run since (later), and every memory
    and disk check holds."""
    deadline = time.monotonic() + 60
    while len(ticks_after(g, pos)) < 3 and time.monotonic() < deadline:
        assert g.vm.proc.poll() is None, g.vm.output[-3000:]
        time.sleep(0.1)
    t = ticks_after(g, pos)
    assert len(t) >= 3, g.vm.output[-3000:]
    assert first <= t[0][0] <= last + 1 < later, (t, first, last, later)
    assert all(ok == "ok" for _, ok in t), g.vm.output[-3000:]
    assert "Linux version" not in g.vm.output[pos:]


def test_savevm_more_work_loadvm(env):
    """HMP savevm, more work, loadvm: the guest is back at the snapshot,
    RAM and disk alike (blocks written since read as before)."""
    g = env["vm"]
    first = g.wait_tick_above(g.last_tick())
    assert g.qmp.hmp("savevm snap1") == ""
    last = g.last_tick()
    assert g.qmp.cmd("query-status")["status"] == "running"
    later = g.wait_tick_above(last + 4)
    g.qmp.cmd("stop")
    later = g.last_tick()
    assert disk_block(env, later).startswith(f"blk{later} ".encode())
    info = g.qmp.hmp("info snapshots")
    assert "List of snapshots present on all disks:" in info, info
    assert re.search(r"--\s+snap1\s+\d", info), info
    pos = len(g.vm.output)
    assert g.qmp.hmp("loadvm snap1") == ""
    assert g.qmp.cmd("query-status")["status"] == "paused"
    # written after the snapshot: the image is back to the fresh zeros
    assert disk_block(env, later) == bytes(65536)
    assert disk_block(env, first - 1).startswith(f"blk{first - 1} ".encode())
    g.qmp.cmd("cont")
    check_back_at_snapshot(g, pos, first, last, later)
    r = subprocess.run(["qemu-img", "snapshot", "-U", "-l", str(env["disk"])],
                       capture_output=True, text=True, timeout=30)
    row = re.search(r"^\d+\s+snap1\s+([\d.]+) (KiB|MiB|GiB)", r.stdout,
                    re.M)
    assert row and float(row.group(1)) > 0, r.stdout


def wait_job(g, job_id):
    while True:
        ev = g.qmp.wait_event("JOB_STATUS_CHANGE", timeout=120)
        if ev["data"]["id"] == job_id and \
                ev["data"]["status"] == "concluded":
            break
    jobs = {j["id"]: j for j in g.qmp.cmd("query-jobs")}
    g.qmp.cmd("job-dismiss", {"id": job_id})
    return jobs[job_id]


def test_snapshot_jobs_over_qmp(env):
    """QMP snapshot-save / snapshot-load / snapshot-delete run as jobs that
    query-jobs follows; their errors end up in the job."""
    g = env["vm"]
    disk = {"vmstate": "virtio0", "devices": ["virtio0"]}
    first = g.wait_tick_above(g.last_tick())
    g.qmp.cmd("snapshot-save", {"job-id": "save1", "tag": "snap2", **disk})
    job = wait_job(g, "save1")
    assert job["type"] == "snapshot-save" and "error" not in job, job
    last = g.last_tick()
    later = g.wait_tick_above(last + 4)
    # the same tag again: QMP does not overwrite
    g.qmp.cmd("snapshot-save", {"job-id": "save2", "tag": "snap2", **disk})
    job = wait_job(g, "save2")
    assert "already exists" in job.get("error", ""), job
    pos = len(g.vm.output)
    g.qmp.cmd("snapshot-load", {"job-id": "load1", "tag": "snap2", **disk})
    assert "error" not in wait_job(g, "load1")
    assert g.qmp.cmd("query-status")["status"] == "running"
    check_back_at_snapshot(g, pos, first, last, later)
    g.qmp.cmd("snapshot-delete", {"job-id": "del1", "tag": "snap2",
                                  "devices": ["virtio0"]})
    assert "error" not in wait_job(g, "del1")
    assert "snap2" not in g.qmp.hmp("info snapshots")
    for args, want in [
            ({"job-id": "1bad", "tag": "x", **disk}, "Invalid job ID"),
            ({"job-id": "l2", "tag": "x", "vmstate": "nope",
              "devices": ["virtio0"]}, "No block device node 'nope'")]:
        rsp = g.qmp.execute("snapshot-load", args)
        if "error" in rsp:
            assert want in rsp["error"]["desc"], rsp
        else:
            assert want in wait_job(g, args["job-id"]).get("error"), want
    assert g.qmp.cmd("query-status")["status"] == "running"


def test_loadvm_at_start(env):
    """-loadvm: a new process starts from snap1; the guest goes on from
    there, its earlier run gone."""
    g = env["vm"]
    later = g.last_tick()
    g.qmp.cmd("quit")
    g.vm.wait(timeout=30)
    g.close()
    env["n"] += 1
    env["vm"] = None
    g = Guest(env["binary"], env["guest"], env["dir"], f"l{env['n']}",
              extra=["-loadvm", "snap1"])
    env["vm"] = g
    g.wait_tick_above(0)
    t = g.ticks()
    assert t[0][0] < later and all(ok == "ok" for _, ok in t), t
    assert "Linux version" not in g.vm.output


def incoming_fails(env, data, name):
    path = env["dir"] / name
    path.write_bytes(data)
    args = vm_args(env["binary"], env["guest"]) + [
        "-incoming", f"file:{path}"]
    return vmrun.run_vm(args, timeout=60)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "version",
                                  "flipped"])
def test_bad_stream_fails_cleanly(env, kind):
    if "state_file" not in env:
        pytest.fail("no good stream: test_file_migrate_then_restore_later, "
                    "which writes it, did not run first or failed")
    good = env["state_file"].read_bytes()
    if kind == "garbage":
        data, want = os.urandom(100000), "bad magic"
    elif kind == "truncated":
        data, want = good[:len(good) // 2], "truncated"
    elif kind == "version":
        data, want = good[:8] + b"\0\0\0\x63" + good[12:], "version 99"
    else:
        cut = len(good) // 2
        data = good[:cut] + bytes([good[cut] ^ 0x40]) + good[cut + 1:]
        want = "migration stream"
    r = incoming_fails(env, data, f"bad-{kind}")
    assert not r.timed_out, r.describe()
    assert r.returncode == 1, r.describe()
    assert "incoming migration failed" in r.output, r.describe()
    assert want in r.output, r.describe()


def test_disk_clean_after_migrations(env):
    """Every write the guest made on the processes it went through is
    there, and the image, closed, is consistent: no cluster two processes
    allocated twice, no leak."""
    vm = env["vm"]
    if vm is None:
        pytest.fail("no running guest left by the tests before")
    vm.wait_tick_above(vm.last_tick() + 1)
    assert all(ok == "ok" for _, ok in vm.ticks()), vm.vm.output[-3000:]
    vm.qmp.cmd("quit")
    vm.vm.wait(timeout=30)
    vm.close()
    env["vm"] = None
    r = subprocess.run(["qemu-img", "check", "--output=json",
                        str(env["disk"])], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"corruptions"' not in r.stdout or \
        '"corruptions": 0' in r.stdout, r.stdout
    assert '"leaks"' not in r.stdout or '"leaks": 0' in r.stdout, r.stdout
    assert '"allocated-clusters"' in r.stdout, r.stdout
