"""The gdb stub: Debian's gdb attached in batch mode reads the registers
(control registers, EFER and segment bases included), memory and the
threads (one per vCPU) of a VM stopped at the reset vector, runs monitor
commands, and detaches, leaving the VM running; a raw client checks the
protocol against hostile packets (bad checksums, huge lengths, unmapped
and malformed addresses, unknown packets) and Ctrl-C after continue.
Breakpoints, watchpoints and single steps are not served yet.
"""

import shutil
import socket
import subprocess
import time

import pytest

from qmp import QMPClient
from vmrun import VMProcess, vireo_binary

BASE = ["-M", "pc", "-accel", "tcg", "-display", "none", "-nodefaults",
        "-m", "32"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VM:
    def __init__(self, tmp_path, *extra):
        self.port = free_port()
        sock = tmp_path / "qmp.sock"
        self.vm = VMProcess([vireo_binary(), *BASE, "-gdb",
                             f"tcp:127.0.0.1:{self.port}", "-qmp",
                             f"unix:{sock},server=on,wait=off", *extra],
                            stdin=False)
        self.qmp = QMPClient(sock)

    def status(self):
        return self.qmp.cmd("query-status")["status"]

    def close(self):
        self.vm.kill()
        self.vm.wait(timeout=10)
        self.qmp.close()


@pytest.fixture
def vm_on(tmp_path):
    made = []

    def start(*extra):
        made.append(VM(tmp_path, *extra))
        return made[-1]
    yield start
    for v in made:
        v.close()


def gdb(port, *commands):
    exe = shutil.which("gdb")
    if not exe:
        pytest.skip("gdb is not installed")
    args = [exe, "-nx", "-batch", "-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        args += ["-ex", c]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return r.stdout + r.stderr


def test_gdb_reads_the_stopped_vm(vm_on):
    v = vm_on("-S", "-smp", "2")
    out = gdb(v.port, "info registers rip cs cr0 efer fs_base",
              "x/4xb 0xffff0", "info threads", "thread 2",
              "info registers rip", "monitor info status", "detach")
    assert "rip            0xfff0" in out, out
    assert "cs             0xf000" in out, out
    assert "cr0            0x60000010" in out, out
    assert "efer           0x0" in out and "fs_base" in out, out
    # SeaBIOS's reset vector: a far jump
    assert "0xffff0:\t0xea" in out, out
    assert "Thread 1 (CPU#0" in out and "Thread 2 (CPU#1" in out, out
    assert "Switching to thread 2" in out, out
    assert "VM status: paused (prelaunch)" in out, out
    assert "detached" in out, out
    # detach lets the VM run
    assert v.status() == "running"


class Raw:
    """A gdb client by hand: packets in, replies out."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def packet(self, body, ack=True):
        body = body.encode() if isinstance(body, str) else body
        self.send(b"$" + body + b"#%02x" % (sum(body) % 256))
        return self.reply(ack)

    def read(self, n=1):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            assert chunk, "the stub closed the connection"
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def reply(self, ack=True):
        if ack:
            assert self.read() == b"+"
        while self.read() != b"$":
            pass
        body = b""
        while True:
            c = self.read()
            if c == b"#":
                break
            body += c
        cc = int(self.read(2), 16)
        assert cc == sum(body) % 256
        return body.decode("latin-1")


def test_protocol_against_hostile_packets(vm_on):
    v = vm_on("-S")
    c = Raw(v.port)
    assert "PacketSize=" in c.packet("qSupported:xmlRegisters=i386")
    # a bad checksum is refused; the next packet is served
    c.send(b"$g#00")
    assert c.read() == b"-"
    assert c.packet("?").startswith("T05thread:01;")
    # a NAK gets the last reply again
    c.send(b"-")
    assert c.reply(ack=False).startswith("T05")
    assert c.packet("vMustReplyEmpty") == ""
    assert c.packet("Z0,fff0,1") == ""     # not served yet: gdb knows
    assert c.packet("mzz,4") == "E22"
    assert c.packet("m0,") == "E22"
    # huge lengths are cut to what a packet holds
    r = c.packet("m0,ffffffffffffffff")
    assert 0 < len(r) <= 16384
    assert c.packet("Hg7") == "E22" and c.packet("T99") == "E22"
    assert c.packet("p10000") == "E14" and c.packet("pzz") == "E22"
    assert c.packet("X0,10:ab") == "E22"
    assert c.packet("M0,4:zzzzzzzz") == "E22"
    # physical memory: write with M and X (escaped bytes), read back
    assert c.packet("Qqemu.PhyMemMode:1") == "OK"
    assert c.packet("M2000,4:11223344") == "OK"
    assert c.packet("m2000,4") == "11223344"
    # '#', '$', '}' and '*' escaped as } then the byte ^ 0x20
    assert c.packet(b"X2000,4:}\x03}\x04}]}\x0a") == "OK"
    assert c.packet("m2000,4") == "23247d2a"
    # far beyond RAM: nothing there
    assert c.packet("mfffffffff000,4") in ("E14", "ffffffff")
    assert c.packet("Qqemu.PhyMemMode:0") == "OK"
    # the description in pieces
    first = c.packet("qXfer:features:read:target.xml:0,40")
    assert first.startswith("m<?xml")
    assert c.packet("qXfer:features:read:other.xml:0,40") == "E00"
    assert c.packet("qXfer:features:read:target.xml:ffffff,40") == "E22"
    # no-ack mode, then continue and Ctrl-C
    assert c.packet("QStartNoAckMode") == "OK"
    c.send(b"$c#63")
    time.sleep(0.3)
    assert v.status() == "running"
    c.send(b"\x03")
    assert c.reply(ack=False).startswith("T02thread:01;")
    assert v.status() == "paused"
    # gdb goes away: the VM stays as it was, the stub takes the next one
    c.s.close()
    time.sleep(0.2)
    assert v.status() == "paused"
    c = Raw(v.port)
    assert c.packet("qAttached") == "1"
    hexcmd = "info status".encode().hex()
    assert c.packet("qRcmd," + hexcmd).startswith("O")
    assert c.reply(ack=False) == "OK"


def test_hmp_gdbserver(tmp_path):
    sock = tmp_path / "qmp.sock"
    vm = VMProcess([vireo_binary(), *BASE, "-S", "-qmp",
                    f"unix:{sock},server=on,wait=off"], stdin=False)
    q = QMPClient(sock)
    try:
        port = free_port()
        assert q.hmp(f"gdbserver tcp:127.0.0.1:{port}") == \
            f"Waiting for gdb connection on device " \
            f"'tcp:127.0.0.1:{port}'\r\n"
        c = Raw(port)
        assert c.packet("?").startswith("T05")
        c.s.close()
        assert q.hmp("gdbserver none") == "Disabled gdbserver\r\n"
        assert q.hmp("gdbserver bogus:x").startswith(
            "Could not open gdbserver on device 'bogus:x'")
    finally:
        vm.kill()
        vm.wait(timeout=10)
        q.close()
