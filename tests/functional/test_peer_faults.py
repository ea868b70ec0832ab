"""Peers that misbehave: a QMP client that never reads, leaves mid-line or
sends a huge line; a migration destination that stops reading or vanishes
mid-stream; a VNC client that stops reading or vanishes mid-message; a tap
device deleted while the guest uses it. Whatever they do, Vireo's memory
stays bounded, its main loop does not spin, the VM keeps running, and the
monitor (and the next client) is served.

Tiny kernels from minikernel.py stand in for a guest where only the
screen or the RAM matters (they start at once under -accel tcg); the tap
test boots the Debian test guest, which has a network driver, in a
network namespace of its own (unshare --net) so nothing touches the
host's interfaces.
"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

import minikernel
import rfbclient
from qmp import QMPClient
from rfbclient import RFBClient
from test_virtio_net import main_thread_cpu_share
from vmrun import VMProcess, vireo_binary

MIB = 1 << 20

# Counts for ever in the word at 2 MiB, so a test can see the VM run.
COUNT_LOOP = """
 xor %eax, %eax
3: inc %eax
 mov %eax, 0x200000
 jmp 3b
"""

# 32 MiB of pseudo-random words from 16 MiB up (a migration stream that
# does not shrink to zero pages), then the counter.
FILL = minikernel.PUTS + """
 mov $0x1000000, %edi
 mov $0x800000, %ecx
 mov $0x12345678, %eax
4: mov %eax, (%edi)
 imul $1103515245, %eax
 add $12345, %eax
 add $4, %edi
 loop 4b
""" + COUNT_LOOP

# Bochs VBE 640x480x32 (no firmware: the kernel sets the mode and turns
# the attribute controller's display on), then pseudo-random pixels
# through the 64 KiB banked window at 0xa0000, frame after frame, so the
# screen never stops changing.
PAINT = minikernel.PUTS + "".join(
    f" mov $0x1ce, %dx\n mov ${index}, %ax\n out %ax, %dx\n"
    f" inc %dx\n mov ${value}, %ax\n out %ax, %dx\n"
    for index, value in [(4, 0), (1, 640), (2, 480), (3, 32), (4, 1)]) + """
 mov $0x3da, %dx
 in %dx, %al
 mov $0x3c0, %dx
 mov $0x20, %al
 out %al, %dx
 mov $0x12345678, %ebx
5: xor %esi, %esi
6: mov $0x1ce, %dx
 mov $5, %ax
 out %ax, %dx
 inc %dx
 mov %si, %ax
 out %ax, %dx
 mov $0xa0000, %edi
 mov $16384, %ecx
4: mov %ebx, (%edi)
 imul $1103515245, %ebx
 add $12345, %ebx
 add $4, %edi
 loop 4b
 inc %esi
 cmp $19, %esi
 jb 6b
 jmp 5b
"""


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rst_close(sock):
    """Closes a TCP socket with a reset, as a peer that crashed would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    sock.close()


class VM:
    """A vireo process on the software CPU with a QMP socket (and more
    QMP sockets named in extra_qmp)."""

    def __init__(self, tmp, kernel, *args, mem=64, extra_qmp=(), name="vm"):
        self.qmp_path = tmp / f"{name}.qmp"
        self.extra = {n: tmp / f"{name}-{n}.qmp" for n in extra_qmp}
        qmps = []
        for path in [self.qmp_path, *self.extra.values()]:
            qmps += ["-qmp", f"unix:{path},server=on,wait=off"]
        self.args = [vireo_binary(), "-M", "pc", "-accel", "tcg", "-m",
                     str(mem), "-display", "none", "-nodefaults",
                     "-kernel", kernel, "-serial", "stdio", *qmps, *args]
        self.vm = VMProcess(self.args, stdin=False)
        self.pid = self.vm.proc.pid
        self.qmp = QMPClient(self.qmp_path)

    def counter(self):
        out = self.qmp.cmd("human-monitor-command",
                           {"command-line": "xp /1wx 0x200000"})
        return int(out.split(":")[1].split()[0], 16)

    def assert_counting(self):
        """The guest runs: its counter moves."""
        first = self.counter()
        deadline = time.monotonic() + 10
        while self.counter() == first:
            assert time.monotonic() < deadline, "the guest does not run"
            time.sleep(0.05)

    def alive(self):
        return self.vm.proc.poll() is None

    def close(self):
        self.qmp.close()
        self.vm.kill()
        return self.vm.wait(timeout=10)


@pytest.fixture
def kernels(tmp_path):
    return {"count": minikernel.build("count", tmp_path,
                                      minikernel.PUTS + COUNT_LOOP),
            "fill": minikernel.build("fill", tmp_path, FILL),
            "paint": minikernel.build("paint", tmp_path, PAINT)}


def timed(fn, *args):
    t = time.monotonic()
    r = fn(*args)
    return r, time.monotonic() - t


# ---- QMP ----------------------------------------------------------------

def chardev_connected(vm, path):
    """Whether the QMP socket at path has a client now (query-chardev)."""
    for ch in vm.qmp.cmd("query-chardev"):
        if str(path) in ch["filename"]:
            return not ch["filename"].startswith("disconnected:")
    raise AssertionError(f"no chardev for {path}")


def whole_messages(data):
    """The JSON messages at the start of data, up to the first one cut."""
    dec, text, pos, out = json.JSONDecoder(), data.decode(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        try:
            obj, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError:
            return out, text[pos:]
        out.append(obj)


def test_qmp_client_that_never_reads(kernels, tmp_path):
    """A client sends commands and never reads: its further requests wait
    (as TCP would make them) once 1 MiB of replies is unread; events then
    pile up to the 16 MiB limit, where the client is disconnected with a
    warning, never sent a message cut short. Another monitor answers all
    along, memory stays bounded, and the next client is served."""
    vm = VM(tmp_path, kernels["count"], extra_qmp=["stuck"])
    try:
        for _ in range(20):
            vm.qmp.cmd("query-status")
        base = rss_kb(vm.pid)

        stuck = socket.socket(socket.AF_UNIX)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(str(vm.extra["stuck"]))
        stuck.sendall(b'{"execute": "qmp_capabilities"}\n')
        # 400 schemas (about 14 MiB of replies) asked for in 12 KiB
        stuck.sendall(b'{"execute": "query-qmp-schema"}\n' * 400)
        time.sleep(1)
        _, took = timed(vm.qmp.cmd, "query-status")
        assert took < 5, f"the other monitor took {took:.1f}s to answer"
        grown = rss_kb(vm.pid) - base
        assert grown < 8 * 1024, \
            f"RSS grew {grown} KiB for replies nobody reads"
        assert chardev_connected(vm, vm.extra["stuck"])

        # events for everybody (STOP, RESUME), 2000 a batch, until the
        # stuck client is let go
        batch = b'{"execute": "stop"}\n{"execute": "cont"}\n' * 1000
        deadline = time.monotonic() + 120
        peak = 0
        while chardev_connected(vm, vm.extra["stuck"]):
            assert time.monotonic() < deadline, \
                "a client that never reads was never disconnected"
            vm.qmp.send_raw(batch)
            for _ in range(2000):
                assert "return" in vm.qmp.response(timeout=30)
            peak = max(peak, rss_kb(vm.pid) - base)
        vm.qmp.events.clear()
        # the 16 MiB of unread output, and the allocator's slack
        assert peak < 32 * 1024, f"RSS grew {peak} KiB for one stuck client"
        assert re.search(r"QMP client on chardev '[^']*' is not reading: "
                         r"disconnected with \d+ bytes", vm.vm.output), \
            vm.vm.output[-2000:]

        # what the client got were whole messages (the connection may end
        # in a reset: its unread requests were thrown away with it)
        stuck.settimeout(5)
        data = b""
        try:
            while chunk := stuck.recv(MIB):
                data += chunk
        except ConnectionResetError:
            pass
        stuck.close()
        msgs, _ = whole_messages(data)
        assert msgs and "QMP" in msgs[0], data[:200]

        with QMPClient(vm.extra["stuck"]) as c:
            assert c.cmd("query-status")["status"] == "running"
        vm.assert_counting()
        assert vm.alive()
    finally:
        vm.close()


def test_qmp_client_leaves_mid_line(kernels, tmp_path):
    """Clients that hang up in the middle of a request (in a string, after
    a backslash, inside a UTF-8 sequence, deep in brackets): the next
    client on the same socket starts from a clean slate."""
    vm = VM(tmp_path, kernels["count"], extra_qmp=["c"])
    try:
        partial = [b'{"execute": "query-sta',
                   b'{"execute": "qmp_capabilities"}\n{"execute": "x\\',
                   b'{"execute": "qmp_capabilities"}\n{"execute": "\xc3',
                   b'{"execute": "qmp_capabilities"}\n' + b"[" * 5000,
                   b'{"execute"']
        for data in partial:
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(vm.extra["c"]))
            s.recv(4096)        # the greeting
            s.sendall(data)
            s.close()
            with QMPClient(vm.extra["c"]) as c:
                assert c.cmd("query-status")["status"] == "running", data
                assert c.execute("query-name", id=7) == \
                    {"return": {}, "id": 7}
        vm.assert_counting()
    finally:
        r = vm.close()
    assert "error" not in r.output.lower(), r.output


def test_qmp_huge_line(kernels, tmp_path):
    """64 MiB lines (inside a string, a bare token, balanced brackets past
    the nesting limit): one error each, memory bounded by the 1 MiB input
    limit, and the same client's next command works."""
    vm = VM(tmp_path, kernels["count"], extra_qmp=["c"])
    try:
        base = rss_kb(vm.pid)
        huge = [
            (b'{"execute": "query-status", "arguments": {"pad": "' +
             b"x" * (64 * MIB) + b'"}}\n', "input exceeds 1048576 bytes"),
            (b"A" * (64 * MIB) + b"\n", "input exceeds 1048576 bytes"),
            (b"[" * (4 * MIB) + b"]" * (4 * MIB) + b"\n",
             "nesting deeper than 1024"),
        ]
        with QMPClient(vm.extra["c"]) as c:
            for line, error in huge:
                sender = threading.Thread(target=c.send_raw, args=(line,))
                sender.start()
                rsp = c.response(timeout=60)
                sender.join(timeout=60)
                assert not sender.is_alive(), "the line was not read"
                assert error in rsp["error"]["desc"], rsp
                assert c.execute("query-status", id=1) == \
                    {"return": {"running": True, "singlestep": False,
                                "status": "running"}, "id": 1}
                grown = rss_kb(vm.pid) - base
                assert grown < 8 * 1024, \
                    f"RSS grew {grown} KiB for a {len(line)} byte line"
        vm.assert_counting()
    finally:
        vm.close()


# ---- migration ----------------------------------------------------------

class Proxy:
    """Sits between a migration source (TCP) and a real destination (a
    unix socket) and forwards both ways until `after` bytes came from the
    source; then, as mode says, it stops reading from the source ("stall")
    or resets both connections ("vanish"). Mode "mute" forwards the whole
    stream but only the destination's first answer (it accepts the
    header), never its confirmation at the end."""

    def __init__(self, dest_path, mode, after):
        self.dest_path, self.mode, self.after = dest_path, mode, after
        self.forwarded = 0
        self.tripped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        src, _ = self.listener.accept()
        dst = socket.socket(socket.AF_UNIX)
        dst.connect(str(self.dest_path))
        self.conns = [src, dst]
        threading.Thread(target=self._pump, args=(dst, src, None),
                         daemon=True).start()
        self._pump(src, dst, self.after)

    def _pump(self, a, b, limit):
        answers = 0
        try:
            while True:
                want = 65536 if limit is None else \
                    min(65536, limit - self.forwarded)
                if want <= 0:
                    break
                data = a.recv(want)
                if not data:
                    return
                if limit is None and self.mode == "mute":
                    answers += 1
                    if answers > 1:
                        self.tripped.set()
                        continue
                b.sendall(data)
                if limit is not None:
                    self.forwarded += len(data)
        except OSError:
            return
        if self.mode == "vanish":
            rst_close(a)
            # the other pump is in b.recv(): only shutdown ends it now
            b.shutdown(socket.SHUT_RDWR)
            b.close()
        self.tripped.set()      # stall: holds both open, reads no more

    def close(self):
        self.listener.close()
        for s in self.conns:
            s.close()


def migration_state(vm, want, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        r = vm.qmp.cmd("query-migrate")
        if r.get("status") in want:
            return r
        assert time.monotonic() < deadline, f"migration not {want}: {r}"
        time.sleep(0.05)


def destination(tmp_path, kernel, name):
    path = tmp_path / f"{name}-in.sock"
    vm = VM(tmp_path, kernel, "-incoming", f"unix:{path}", mem=128,
            name=name)
    return vm, path


def test_migration_destination_stops_reading(kernels, tmp_path):
    """The destination stops reading 8 MiB into the stream: the source's
    monitor keeps answering, its main loop does not spin, migrate_cancel
    ends the migration at once and the guest runs on; a migration to a
    healthy destination afterwards completes."""
    src = VM(tmp_path, kernels["fill"], mem=128, name="src")
    dst, dst_path = destination(tmp_path, kernels["fill"], "dst")
    proxy = Proxy(dst_path, "stall", 8 * MIB)
    try:
        assert src.vm.expect("READY", timeout=30)
        src.assert_counting()
        src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{proxy.port}"})
        assert proxy.tripped.wait(60), migration_state(src, {"x"}, 0)
        time.sleep(1)
        r1 = migration_state(src, {"active"})
        time.sleep(2)
        r2, took = timed(migration_state, src, {"active"})
        assert took < 5, f"query-migrate took {took:.1f}s during the stall"
        # only what the socket buffers took in between
        assert r2["ram"]["transferred"] - r1["ram"]["transferred"] < 8 * MIB
        busy = main_thread_cpu_share(src.pid, 2.0)
        assert busy < 0.3, f"main loop {busy:.0%} busy during the stall"
        src.assert_counting()

        src.qmp.cmd("migrate_cancel")
        migration_state(src, {"cancelled"}, timeout=10)
        assert src.qmp.cmd("query-status")["status"] == "running"
        src.assert_counting()
    finally:
        proxy.close()
        dst.close()

    dst2, dst2_path = destination(tmp_path, kernels["fill"], "dst2")
    try:
        src.qmp.cmd("migrate", {"uri": f"unix:{dst2_path}"})
        r = migration_state(src, {"completed", "failed"}, timeout=120)
        assert r["status"] == "completed", r
        dst2.assert_counting()
    finally:
        dst2.close()
        src.close()


def test_migration_destination_never_confirms(kernels, tmp_path):
    """The whole stream goes through but the destination's confirmation
    never comes back: the source waits stopped, still "active" (it cannot
    know the destination took over), and migrate_cancel runs the guest
    here again."""
    src = VM(tmp_path, kernels["fill"], mem=128, name="src")
    dst, dst_path = destination(tmp_path, kernels["fill"], "dst")
    proxy = Proxy(dst_path, "mute", 1 << 40)
    try:
        assert src.vm.expect("READY", timeout=30)
        src.assert_counting()
        src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{proxy.port}"})
        assert proxy.tripped.wait(120), migration_state(src, {"x"}, 0)
        time.sleep(2)
        assert src.qmp.cmd("query-migrate")["status"] == "active"
        assert src.qmp.cmd("query-status")["status"] != "running"
        busy = main_thread_cpu_share(src.pid, 1.0)
        assert busy < 0.3, f"main loop {busy:.0%} busy while it waits"

        src.qmp.cmd("migrate_cancel")
        migration_state(src, {"cancelled"}, timeout=10)
        assert src.qmp.cmd("query-status")["status"] == "running"
        src.assert_counting()
    finally:
        proxy.close()
        dst.close()
        src.close()


def test_migration_destination_vanishes_mid_stream(kernels, tmp_path):
    """The connection is reset 8 MiB into the stream of a paused source:
    the migration fails with the reason, the source stays paused and
    `cont` runs it; the destination exits with a clear error."""
    src = VM(tmp_path, kernels["fill"], mem=128, name="src")
    dst, dst_path = destination(tmp_path, kernels["fill"], "dst")
    proxy = Proxy(dst_path, "vanish", 8 * MIB)
    try:
        assert src.vm.expect("READY", timeout=30)
        src.assert_counting()
        src.qmp.cmd("stop")
        src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{proxy.port}"})
        assert proxy.tripped.wait(60), migration_state(src, {"x"}, 0)
        r = migration_state(src, {"failed", "completed"}, timeout=30)
        assert r["status"] == "failed", r
        assert re.search(r"reset|broken pipe|closed", r["error-desc"], re.I), r
        assert src.qmp.cmd("query-status")["status"] == "paused"
        src.qmp.cmd("cont")
        assert src.qmp.cmd("query-status")["status"] == "running"
        src.assert_counting()

        out = dst.vm.wait(timeout=30)
        assert out.returncode == 1, out.describe()
        assert re.search(r"vireo: .*(migration|incoming|stream)",
                         out.output, re.I), out.describe()
    finally:
        proxy.close()
        dst.close()
        src.close()


# ---- VNC ----------------------------------------------------------------

class VNCVM(VM):
    def __init__(self, tmp, kernel):
        first = 200 + os.getpid() % 2000
        super().__init__(tmp, kernel, "-vga", "std", "-vnc",
                         f"127.0.0.1:{first},to={first + 300}", name="vnc")
        info = self.qmp.cmd("query-vnc")
        self.addr = (info["host"], int(info["service"]))

    def client_ports(self):
        return [c["service"] for c in self.qmp.cmd("query-vnc")["clients"]]

    def wait_gone(self, port, timeout=15):
        deadline = time.monotonic() + timeout
        while str(port) in self.client_ports():
            assert time.monotonic() < deadline, f"client {port} not dropped"
            time.sleep(0.1)


def good_client_and_monitor_fine(vm, good):
    """The client that reads gets a whole new screen within seconds, the
    monitor answers at once."""
    # generous bounds: a stuck server would not answer at all, a busy
    # CI machine answers late
    _, took = timed(good.update, False, 20)
    assert took < 10, f"a well-behaved client waited {took:.1f}s"
    _, took = timed(vm.qmp.cmd, "query-status")
    assert took < 5, f"query-status took {took:.1f}s"


def test_vnc_client_that_stops_reading(kernels, tmp_path):
    """While the screen changes all the time, a client asks for updates
    and never reads: incremental requests are held back (Vireo's memory
    stays bounded, the client stays); full-screen requests fill its queue
    until the client is dropped. A reading client and the monitor are
    served throughout."""
    vm = VNCVM(tmp_path, kernels["paint"])
    try:
        good = RFBClient(vm.addr).handshake()
        good.set_encodings([rfbclient.RAW])
        for _ in range(3):
            good.update()
        assert any(good.fb), "the screen is black: the kernel did not paint"
        base = rss_kb(vm.pid)

        for incremental in (True, False):
            c = RFBClient(vm.addr)
            slow = c.sock
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.handshake()
            c.set_encodings([rfbclient.RAW])
            port = slow.getsockname()[1]
            peak, gone = 0, False
            deadline = time.monotonic() + (10 if incremental else 60)
            while time.monotonic() < deadline:
                try:
                    c.request(incremental=incremental)
                except OSError:
                    pass        # the server closed it
                good_client_and_monitor_fine(vm, good)
                peak = max(peak, rss_kb(vm.pid) - base)
                if str(port) not in vm.client_ports():
                    gone = True
                    break
                time.sleep(0.05)
            slow.close()
            if incremental:
                # throttled at 1 MiB queued, plus one screen in progress
                assert peak < 12 * 1024, \
                    f"RSS grew {peak} KiB for a client that does not read"
            else:
                assert gone, "a client that never reads was not dropped"
                # dropped past 16 MiB (4 screens of 1.2 MiB are less)
                assert peak < 40 * 1024, \
                    f"RSS grew {peak} KiB before the client was dropped"
            vm.wait_gone(port)
        good_client_and_monitor_fine(vm, good)
        assert vm.client_ports() == [str(good.sock.getsockname()[1])]
        assert vm.alive()
    finally:
        vm.close()


def test_vnc_client_vanishes_mid_message(kernels, tmp_path):
    """Clients reset in the middle of things — the handshake, a message
    they send, an update Vireo sends — are dropped one by one with a
    VNC_DISCONNECTED event; afterwards the main loop idles and the client
    that stayed is served."""
    vm = VNCVM(tmp_path, kernels["paint"])
    try:
        good = RFBClient(vm.addr).handshake()
        good.set_encodings([rfbclient.ZLIB])
        good.update()

        def handshake_half(c):
            c.recv_exact(12)
            c.send(b"RFB 003.008\n")
            c.recv_exact(2)     # the security types, never answered

        def message_half(c):
            c.handshake()
            c.send(struct.pack(">BxH", 2, 3) + struct.pack(">i", 0))

        def update_half(c):
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.handshake()
            c.set_encodings([rfbclient.RAW])
            c.request(incremental=False)
            c.recv_exact(100)   # the update's first bytes of 1.2 MB

        for what in (handshake_half, message_half, update_half):
            c = RFBClient(vm.addr)
            what(c)
            port = c.sock.getsockname()[1]
            assert str(port) in vm.client_ports()
            rst_close(c.sock)
            vm.wait_gone(port)
            ev = vm.qmp.wait_event("VNC_DISCONNECTED", timeout=10)
            assert ev["data"]["client"]["service"] == str(port), ev
            good_client_and_monitor_fine(vm, good)

        # the screen keeps changing, so the refresh runs; nothing spins
        busy = main_thread_cpu_share(vm.pid, 2.0)
        assert busy < 0.5, f"main loop {busy:.0%} busy after the resets"
        assert vm.client_ports() == [str(good.sock.getsockname()[1])]
    finally:
        vm.close()


# ---- tap ----------------------------------------------------------------

TAP = "vtap0"
TAP_HOST, TAP_GUEST = "192.168.77.1", "192.168.77.2"
# pings the host side every 0.2 s for ever (no double quotes: vireo.cmd)
TAP_GUEST_CMD = (
    f"ip link set eth0 up; ip addr add {TAP_GUEST}/24 dev eth0; i=0; "
    "while :; do i=$((i+1)); "
    f"if ping -c 1 -W 1 {TAP_HOST} >/dev/null 2>&1; "
    "then echo TAPTICK $i ok; else echo TAPTICK $i fail; fi; "
    "usleep 200000; done")
TAPTICK = re.compile(r"TAPTICK (\d+) (ok|fail)")


def in_netns(pid, *cmd):
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *cmd],
                          capture_output=True, text=True, timeout=30)


def tap_ticks(output):
    return [(int(n), st) for n, st in TAPTICK.findall(output)]


def wait_ticks(vm, pred, what, timeout):
    deadline = time.monotonic() + timeout
    while not pred(tap_ticks(vm.output)):
        assert vm.proc.poll() is None, vm.output[-3000:]
        assert time.monotonic() < deadline, \
            f"{what}: {vm.output[-3000:]}"
        time.sleep(0.2)


@pytest.mark.slow
def test_tap_device_deleted_under_the_guest(vireo_binary, debian_guest,
                                            tmp_path):
    """`ip link del` of the tap while the guest pings through it: one
    clear error in the log, no busy loop on the dead descriptor, and the
    guest (which keeps sending) and the monitor run on."""
    from test_debian_guest import TIMEOUT, guest_args
    from test_virtio_net_tap import tap_netns_unavailable
    why = tap_netns_unavailable() or \
        (None if shutil.which("nsenter") else "`nsenter` is not installed")
    if why:
        pytest.skip(f"needs a tap device in a network namespace: {why}")
    qmp_path = tmp_path / "qmp.sock"
    args = ["unshare", "--net"] + guest_args(
        vireo_binary, debian_guest, "pc", 1,
        f'console=ttyS0 vireo.task=cmd vireo.cmd="{TAP_GUEST_CMD}"') + [
        "-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no",
        "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:ab:cd:77",
        "-qmp", f"unix:{qmp_path},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(qmp_path) as qmp:
        pid = vm.proc.pid       # unshare execs vireo: the same process
        deadline = time.monotonic() + 30
        while in_netns(pid, "ip", "link", "show", TAP).returncode:
            assert time.monotonic() < deadline, vm.output
            time.sleep(0.2)
        for cmd in (["ip", "addr", "add", f"{TAP_HOST}/24", "dev", TAP],
                    ["ip", "link", "set", TAP, "up"]):
            r = in_netns(pid, *cmd)
            assert r.returncode == 0, r.stderr
        wait_ticks(vm, lambda t: sum(st == "ok" for _, st in t) >= 3,
                   "the guest never reached the host over the tap", TIMEOUT)
        # (a ping's reply is a frame from the host into the guest)

        last = tap_ticks(vm.output)[-1][0]
        r = in_netns(pid, "ip", "link", "del", TAP)
        assert r.returncode == 0, r.stderr
        # the guest keeps sending into the dead tap, and keeps running
        wait_ticks(vm, lambda t: sum(n > last and st == "fail"
                                     for n, st in t) >= 5,
                   "the guest stopped after the tap went away", 120)
        busy = main_thread_cpu_share(pid, 2.0)
        assert busy < 0.3, f"main loop {busy:.0%} busy after the tap went"
        assert qmp.cmd("query-status")["status"] == "running"
        assert "running" in qmp.hmp("info status")
        errors = [line for line in vm.output.splitlines()
                  if line.startswith("vireo:") and TAP in line]
        assert len(errors) == 1, errors
        assert re.search(r"File descriptor in bad state", errors[0]), errors
        n = len(tap_ticks(vm.output))
        wait_ticks(vm, lambda t: len(t) >= n + 3, "the guest stopped", 60)
        errors2 = [line for line in vm.output.splitlines()
                   if line.startswith("vireo:") and TAP in line]
        assert errors2 == errors, "the error was logged more than once"
