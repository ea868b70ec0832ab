"""I/O threads (-object iothread) and virtio-blk on one: query-iothreads
and info iothreads show the thread, which is a real thread of the process
named "IO ID"; the guest (one boot on pc, virtio-blk-pci with iothread=)
writes random data with O_DIRECT and reads it back with the same checksum,
the host finds it in the image, and the requests were handled on the I/O
thread (its wake-ups and CPU time grow during the guest's I/O, under the
software CPU too: the vCPU's kick signals an eventfd). Bad -object options
and an unknown iothread= are refused at start-up with QEMU's messages."""

import hashlib
import re
import subprocess
import time

import pytest

from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess, run_vm

PROMPT = r"vireo-guest:/# "
MIB = 1 << 20
DISK_MB = 32
# the guest's name of the disk with serial "data"
DEV = "$(for d in /sys/block/vd*; do [ $(cat $d/serial) = data ] && " \
      "echo /dev/${d##*/}; done)"


def shell(vm, cmd, tag, timeout=300):
    """Runs cmd on the guest's console; its output and exit status."""
    start = len(vm.output)
    vm.send(f"{cmd}; echo {tag}-done=$?\n")
    m = vm.expect(rf"{tag}-done=(\d+)\r?\n", timeout=timeout)
    assert m, vm.output
    return vm.output[start:], int(m.group(1))


def thread_stats(pid, tid):
    """(CPU ticks, voluntary context switches) of thread tid."""
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])     # utime + stime
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        switches = int(re.search(r"voluntary_ctxt_switches:\s+(\d+)",
                                 f.read()).group(1))
    return ticks, switches


@pytest.fixture(scope="module")
def guest(vireo_binary, debian_guest, tmp_path_factory):
    d = tmp_path_factory.mktemp("iothread")
    disk = d / "data.img"
    with open(disk, "wb") as f:
        f.truncate(DISK_MB * MIB)
    sock = d / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      "console=ttyS0 vireo.task=shell") + \
        ["-object", "iothread,id=io0",
         "-object", "iothread,id=io1,poll-max-ns=0,poll-grow=2,"
                    "poll-shrink=3,aio-max-batch=7",
         "-drive", f"file={disk},format=raw,if=none,id=d0,cache=none",
         "-device", "virtio-blk-pci,drive=d0,serial=data,iothread=io0",
         "-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert vm.expect(PROMPT, timeout=TIMEOUT), vm.output
        yield {"vm": vm, "qmp": c, "disk": disk}
        # the I/O threads stop and join at exit: a clean quit
        c.cmd("quit")
        r = vm.wait(timeout=60)
        assert not r.timed_out and r.returncode == 0, r.describe()


def test_query_iothreads_lists_real_named_threads(guest):
    vm, c = guest["vm"], guest["qmp"]
    threads = c.cmd("query-iothreads")
    # QEMU's order: the newest first
    assert [t["id"] for t in threads] == ["io1", "io0"], threads
    io1, io0 = threads
    assert io0 == {"id": "io0", "thread-id": io0["thread-id"],
                   "poll-max-ns": 32768, "poll-grow": 0, "poll-shrink": 0,
                   "aio-max-batch": 0}, io0
    assert io1 == {"id": "io1", "thread-id": io1["thread-id"],
                   "poll-max-ns": 0, "poll-grow": 2, "poll-shrink": 3,
                   "aio-max-batch": 7}, io1
    pid = vm.proc.pid
    for t in threads:
        with open(f"/proc/{pid}/task/{t['thread-id']}/comm") as f:
            assert f.read().strip() == f"IO {t['id']}"
    # no two threads share an id, and none is a vCPU's
    cpus = {cpu["thread-id"] for cpu in c.cmd("query-cpus-fast")}
    assert io0["thread-id"] != io1["thread-id"]
    assert not cpus & {io0["thread-id"], io1["thread-id"]}

    assert c.hmp("info iothreads") == (
        f"io1:\r\n  thread_id={io1['thread-id']}\r\n  poll-max-ns=0\r\n"
        "  poll-grow=2\r\n  poll-shrink=3\r\n  aio-max-batch=7\r\n"
        f"io0:\r\n  thread_id={io0['thread-id']}\r\n  poll-max-ns=32768\r\n"
        "  poll-grow=0\r\n  poll-shrink=0\r\n  aio-max-batch=0\r\n")


def test_guest_io_is_handled_on_the_iothread(guest):
    vm, c = guest["vm"], guest["qmp"]
    pid = vm.proc.pid
    io0 = next(t for t in c.cmd("query-iothreads") if t["id"] == "io0")
    tid = io0["thread-id"]
    shell(vm, f"D={DEV}; echo disk=$D", "find")

    before = thread_stats(pid, tid)
    # 4 KiB direct writes and reads: each one a request of its own
    out, rc = shell(vm, f"dd if=/dev/urandom of=/tmp/src bs=1M count=8 "
                    f"2>/dev/null && dd if=/tmp/src of=$D bs=4k oflag=direct "
                    f"2>/dev/null && dd if=$D of=/tmp/back bs=4k count=2048 "
                    f"iflag=direct 2>/dev/null && "
                    f"echo SUMS $(sha256sum /tmp/src /tmp/back | "
                    f"cut -d' ' -f1)", "io")
    after = thread_stats(pid, tid)
    assert rc == 0, out
    sums = re.search(r"SUMS ([0-9a-f]{64}) ([0-9a-f]{64})", out)
    assert sums and sums.group(1) == sums.group(2), out

    # the host sees what the guest wrote
    with open(guest["disk"], "rb") as f:
        data = f.read(8 * MIB)
    assert hashlib.sha256(data).hexdigest() == sums.group(1)

    # 4096 requests, each woke the I/O thread (or was found by it) and
    # was handled there
    ticks, switches = after[0] - before[0], after[1] - before[1]
    print(f"io0 thread: {ticks} ticks, {switches} wake-ups for 4096 "
          f"requests")
    assert switches > 100, (before, after)
    assert ticks > 0, (before, after)


def test_disk_works_after_stop_and_cont(guest):
    """Stopping the VM turns the guest's kicks back on (a polling I/O
    thread may have had them off); after cont the disk still answers."""
    vm, c = guest["vm"], guest["qmp"]
    for _ in range(3):
        c.cmd("stop")
        assert c.cmd("query-status")["status"] == "paused"
        c.cmd("cont")
    out, rc = shell(vm, f"D={DEV}; dd if=/dev/urandom of=/tmp/s2 bs=4k "
                    "count=256 2>/dev/null && dd if=/tmp/s2 of=$D bs=4k "
                    "seek=4096 oflag=direct 2>/dev/null && dd if=$D bs=4k "
                    "skip=4096 count=256 iflag=direct 2>/dev/null | "
                    "sha256sum && sha256sum < /tmp/s2", "after")
    sums = re.findall(r"\b([0-9a-f]{64})\b", out)
    assert rc == 0 and len(sums) == 2 and sums[0] == sums[1], out


def test_idle_iothread_does_not_spin(guest):
    """An I/O thread with no device sleeps: no CPU time, no wake-ups."""
    vm, c = guest["vm"], guest["qmp"]
    io1 = next(t for t in c.cmd("query-iothreads") if t["id"] == "io1")
    before = thread_stats(vm.proc.pid, io1["thread-id"])
    time.sleep(2)
    after = thread_stats(vm.proc.pid, io1["thread-id"])
    assert after[0] - before[0] == 0 and after[1] - before[1] <= 1, \
        (before, after)


def start_error(vireo_binary, *args):
    r = run_vm([vireo_binary, "-M", "pc", "-accel", "tcg", "-display",
                "none", "-S", *args], timeout=30)
    assert not r.timed_out and r.returncode == 1, r.describe()
    return r.output


@pytest.mark.parametrize("opt, want", [
    ("iothread", "-object iothread: Parameter 'id' is missing"),
    ("secret,id=s0", "-object secret,id=s0: invalid object type: secret"),
    ("id=x", "-object id=x: Parameter 'qom-type' is missing"),
    ("iothread,id=io0,poll-max-ns=abc",
     "Parameter 'poll-max-ns' expects an int64 value"),
    ("iothread,id=io0,poll-max-ns=", "Parameter 'poll-max-ns' expects"),
    ("iothread,id=io0,poll-grow=99999999999999999999",
     "Parameter 'poll-grow' expects an int64 value"),
    ("iothread,id=io0,poll-shrink=-1",
     "poll-shrink value must be in range [0, 9223372036854775807]"),
    ("iothread,id=io0,aio-max-batch=1k",
     "Parameter 'aio-max-batch' expects an int64 value"),
    ("iothread,id=io0,bogus=1", "Invalid parameter 'bogus'"),
    ("iothread,id=1x", "Parameter 'id' expects an identifier"),
    ("iothread,id=a b", "Parameter 'id' expects an identifier"),
])
def test_bad_object_options_are_refused(vireo_binary, opt, want):
    assert want in start_error(vireo_binary, "-object", opt)


def test_duplicate_iothread_id_is_refused(vireo_binary):
    out = start_error(vireo_binary, "-object", "iothread,id=a",
                      "-object", "iothread,id=a")
    assert "-object iothread,id=a: Duplicate ID 'a' for object" in out


@pytest.mark.parametrize("machine, device", [("pc", "virtio-blk-pci"),
                                             ("microvm",
                                              "virtio-blk-device")])
def test_unknown_iothread_on_the_device_is_refused(vireo_binary, debian_guest,
                                                   tmp_path, machine, device):
    disk = tmp_path / "d.img"
    disk.write_bytes(bytes(MIB))
    r = run_vm([vireo_binary, "-M", machine, "-accel", "tcg", "-display",
                "none", "-S", "-kernel", debian_guest["vmlinuz"],
                "-object", "iothread,id=io0",
                "-drive", f"file={disk},format=raw,if=none,id=d0",
                "-device", f"{device},drive=d0,iothread=nope"], timeout=30)
    assert not r.timed_out and r.returncode == 1, r.describe()
    assert "iothread 'nope' not found" in r.output, r.describe()


def test_object_help_lists_iothread(vireo_binary):
    r = subprocess.run([vireo_binary, "-object", "help"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "iothread" in r.stdout.split(), r
    r = subprocess.run([vireo_binary, "-object", "iothread,help"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    for opt in ["poll-max-ns", "poll-grow", "poll-shrink", "aio-max-batch"]:
        assert f"  {opt}=<int>" in r.stdout, r.stdout


@pytest.mark.parametrize("opts", ["", ",poll-max-ns=0",
                                  ",poll-max-ns=1000000,poll-grow=4,"
                                  "poll-shrink=2"])
def test_testkernel_blk_on_an_iothread(vireo_binary, tmp_path, opts):
    """The test kernel's driver (no EVENT_IDX: it reads
    VIRTQ_USED_F_NO_NOTIFY before each kick) on a disk on an I/O thread,
    software CPU: every workload, polled and halting until the interrupt,
    with polling (buffers added while kicks were off must still be
    handled, or the guest halts for ever), without, and with a poll time
    long enough to catch the guest's next requests."""
    import testkernel as tk
    from test_testkernel_blk import make_pattern_disk
    missing = tk.toolchain_missing()
    if missing:
        pytest.skip(f"cannot build the test kernel: {missing}")
    kernel = tk.build()["bzimage"]
    disk = tmp_path / "disk.img"
    make_pattern_disk(disk, 32)
    r = run_vm([vireo_binary, "-M", "microvm,acpi=off", "-m", "256",
                "-kernel", kernel, "-append",
                "test=none action=blk blk_seconds=1 blk_mode=poll,irq "
                "blk_work=randread,seqread,randwrite,beyond",
                "-nographic", "-no-reboot", *tk.DEBUG_EXIT, "-accel", "tcg",
                "-object", f"iothread,id=io0{opts}",
                "-drive", f"file={disk},format=raw,if=none,id=d0,cache=none",
                "-device", "virtio-blk-device,drive=d0,iothread=io0"],
               timeout=120)
    verdict = tk.parse(r.output)
    assert not r.timed_out and r.returncode == tk.EXIT_PASS, r.describe()
    assert {"blk", "blk-beyond-end"} <= verdict["passed"], r.describe()
    seen = set(re.findall(r"BLK (\w+) mode=(\w+) ", r.output))
    assert seen == {(w, m) for w in ("randread", "seqread", "randwrite")
                    for m in ("poll", "irq")}, r.describe()
