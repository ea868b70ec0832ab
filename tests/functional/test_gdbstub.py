"""The gdb stub: Debian's gdb attached in batch mode reads the registers
(control registers, EFER and segment bases included), memory and the
threads (one per vCPU) of a VM stopped at the reset vector, steps it in
real mode, runs monitor commands, and detaches, leaving the VM running;
gdb debugs the test kernel's gdbtest.c (built with symbols) on the
software CPU and under KVM: a breakpoint, its arguments and backtrace,
`next`, a watchpoint, a hardware breakpoint on code copied into RAM only
later, stepi, a register write the guest sees, and the guest's exit; a
raw client checks the protocol against hostile packets (bad checksums,
huge lengths, unmapped and malformed addresses, bad breakpoints and
registers, unknown packets) and Ctrl-C after continue.
"""

import shutil
import socket
import subprocess
import time

import pytest

import testkernel
from qmp import QMPClient
from vmrun import VMProcess, kvm_usable, vireo_binary

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
              "info registers rip", "monitor info status", "thread 1",
              "x/1xb $pc", "stepi", "info registers rip", "detach")
    # real mode: gdb sees the linear address CS.base + IP, which after
    # reset is just below 4 GiB (CS.base 0xffff0000)
    assert "rip            0xfffffff0" in out, out
    assert "cs             0xf000" in out, out
    assert "cr0            0x60000010" in out, out
    assert "efer           0x0" in out and "fs_base" in out, out
    # SeaBIOS's reset vector: a far jump
    assert "0xffff0:\t0xea" in out, out
    assert "Thread 1 (CPU#0" in out and "Thread 2 (CPU#1" in out, out
    assert "Switching to thread 2" in out, out
    assert "VM status: paused (prelaunch)" in out, out
    # one step through SeaBIOS's far jump to f000:e05b
    assert "0xfffffff0:\t0xea" in out, out
    assert "rip            0xfe05b" in out, out
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
    assert c.packet("Z9,fff0,1") == ""     # a kind gdb may try: no
    assert c.packet("Z2,1000,0") == "E22"  # a watchpoint of nothing
    assert c.packet("Z2,1000,100000") == "E22"
    assert c.packet("Z0,zz,1") == "E22" and c.packet("Z0") == "E22"
    assert c.packet("Z0,fff0,1;X2,0f") == "OK"  # conditions: gdb's own
    assert c.packet("z0,fff0,1") == "OK" and c.packet("z0,fff0,1") == "OK"
    assert c.packet("Pzz=00") == "E22" and c.packet("P0=zz") == "E22"
    assert c.packet("P12=1100000000000000") == "E22"   # cs: not writable
    assert c.packet("G00") == "E22"
    assert c.packet("vCont;x") == "E22" and c.packet("vCont;s:99") == "E22"
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


GDBTEST = ["break gdb_add", "continue", "info args", "bt 2", "next",
           "next", "info locals", "delete", "break gdb_touch", "continue",
           "print round", "delete", "hbreak *&gdb_loaded_code", "continue",
           "x/2i $pc", "stepi", "print $rax", "set var $rax = 7",
           "delete", "continue"]


def debug_testkernel(tmp_path, accel, commands):
    """gdb on the test kernel's action=gdb: gdb's output, and the kernel's
    serial output."""
    if testkernel.toolchain_missing():
        pytest.skip(testkernel.toolchain_missing())
    if accel == "kvm" and not kvm_usable()[0]:
        pytest.skip(kvm_usable()[1])
    tk = testkernel.build()
    port = free_port()
    serial = tmp_path / "serial.txt"
    vm = VMProcess([vireo_binary(), "-M", "pc", "-accel", accel,
                    "-display", "none", "-nodefaults", "-m", "64",
                    "-serial", f"file:{serial}", *testkernel.DEBUG_EXIT,
                    "-kernel", str(tk["elf"]), "-append",
                    "test=cmdline action=gdb", "-S", "-gdb",
                    f"tcp:127.0.0.1:{port}"], stdin=False)
    try:
        exe = shutil.which("gdb")
        if not exe:
            pytest.skip("gdb is not installed")
        args = [exe, "-nx", "-batch", "-ex",
                f"target remote 127.0.0.1:{port}"]
        for c in commands:
            args += ["-ex", c]
        args.append(str(tk["symbols"]))
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        vm.wait(timeout=30)
    finally:
        vm.kill()
    return r.stdout + r.stderr, serial.read_text()


@pytest.mark.parametrize("accel", ["tcg", "kvm"])
def test_gdb_debugs_a_kernel(tmp_path, accel):
    out, serial = debug_testkernel(tmp_path, accel, GDBTEST)
    assert "Breakpoint 1, gdb_add (a=1, b=10) at gdbtest.c:21" in out, out
    assert "#1  0x" in out and "in action_gdb () at gdbtest.c:39" in out, out
    assert "sum = 11" in out, out                   # `next` ran line 21
    assert "Breakpoint 2, gdb_touch (round=1)" in out and "$1 = 1" in out, out
    # the hardware breakpoint was set before the code was there
    assert "Breakpoint 3, 0x" in out and "in gdb_loaded_code ()" in out, out
    assert "mov    $0x2a,%eax" in out, out
    assert "$2 = 42" in out, out                    # stepi ran the mov
    # the guest returns what gdb wrote, then exits (status 3: it failed)
    assert "exited with code 03" in out, out
    assert "GDB DONE total=66 loaded=7" in serial, serial


def test_gdb_watchpoint(tmp_path):
    # the software CPU: the nested KVM of the test machines does not
    # deliver data breakpoints (Debian's QEMU misses them there too)
    out, serial = debug_testkernel(tmp_path, "tcg", [
        "watch gdb_watched", "continue", "continue", "print gdb_watched",
        "delete", "rwatch gdb_watched", "awatch gdb_add", "delete",
        "continue"])
    assert "Old value = 0" in out and "New value = 3" in out, out
    assert "Old value = 3" in out and "New value = 6" in out, out
    assert "gdb_touch (round=2) at gdbtest.c:30" in out, out
    assert "$1 = 6" in out, out
    assert "GDB DONE total=66 loaded=42" in serial, serial


def test_gdb_breaks_in_a_boot_sector(tmp_path):
    # SeaBIOS loads the sector to 0:7c00; it sets ax and leaves through
    # isa-debug-exit
    code = bytes([0xb8, 0x34, 0x12,         # mov ax, 0x1234
                  0xb0, 0x00, 0xe6, 0xf4,   # mov al, 0; out 0xf4, al
                  0xf4, 0xeb, 0xfd])        # hlt; jmp $-1
    disk = tmp_path / "boot.img"
    disk.write_bytes(code.ljust(510, b"\0") + b"\x55\xaa" +
                     bytes(512 * 63))
    v = VM(tmp_path, "-S", "-drive", f"file={disk},format=raw,if=ide",
           *testkernel.DEBUG_EXIT)
    try:
        out = gdb(v.port, "break *0x7c00", "continue", "x/1xb $pc",
                  "stepi", "info registers rip", "print/x $rax & 0xffff",
                  "continue")
    finally:
        v.close()
    assert "Breakpoint 1, 0x0000000000007c00 in ?? ()" in out, out
    assert "0x7c00:\t0xb8" in out, out
    assert "rip            0x7c03" in out, out
    assert "$1 = 0x1234" in out, out
    assert "exited with code 01" in out, out
