"""The human monitor as people use it: on a socket (-monitor unix:...) and
sharing the terminal with the serial console under -nographic, where
QEMU's Ctrl-a keys switch between them. The guest is the tiny counting
kernel of test_qmp on the software CPU."""

import re
import time

import pytest

import minikernel
import qmp
from test_qmp import COUNT, COUNTER_ADDR, TCG
from vmrun import VMProcess, vireo_binary

PROMPT = b"(qemu) "


@pytest.fixture
def counter_kernel(tmp_path):
    return minikernel.build("count", tmp_path, COUNT)


class HMPClient:
    def __init__(self, path, timeout=20):
        self.sock = qmp.connect(path, timeout)
        self.banner = self.until_prompt()

    def until_prompt(self):
        data = b""
        while not data.endswith(PROMPT):
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError(data)
            data += chunk
        return data.decode()

    def run(self, line):
        """Types a command; returns what it printed (without the echo)."""
        self.sock.sendall(line.encode() + b"\r")
        out = self.until_prompt()
        return out.split("\r\n", 1)[1].rsplit(PROMPT.decode(), 1)[0]


def test_monitor_on_a_socket(counter_kernel, tmp_path):
    sock = tmp_path / "hmp.sock"
    vm = VMProcess([vireo_binary(), *TCG, "-kernel", counter_kernel,
                    "-nodefaults", "-serial", "stdio", "-monitor",
                    f"unix:{sock},server=on,wait=off"], stdin=False)
    with vm:
        assert vm.expect("READY", timeout=20), vm.output
        m = HMPClient(sock)
        assert "monitor - type 'help' for more information" in m.banner
        assert "xp /fmt addr" in m.run("help")
        assert "info registers" in m.run("info")
        assert m.run("info status") == "VM status: running\r\n"
        assert m.run("stop") == ""
        assert m.run("info status") == "VM status: paused\r\n"
        a = m.run(f"xp /1wx {COUNTER_ADDR:#x}")
        time.sleep(0.2)
        assert m.run(f"xp /1wx {COUNTER_ADDR:#x}") == a   # stopped
        assert re.match(r"^0*200000: 0x[0-9a-f]{8}\r\n$", a), a
        m.run("cont")
        time.sleep(0.2)
        assert m.run(f"xp /1wx {COUNTER_ADDR:#x}") != a
        regs = m.run("info registers")
        assert "EIP=" in regs or "RIP=" in regs, regs
        # paging is off in this guest: virtual is physical
        assert m.run("gva2gpa 0x100000") == "gpa: 0x100000\r\n"
        assert m.run("frobnicate") == "unknown command: 'frobnicate'\r\n"
        assert "invalid char in format" in m.run("x /3z 0")
        # a client leaving mid-line does no harm; the next one is greeted
        m.sock.sendall(b"info sta")
        m.sock.close()
        m = HMPClient(sock)
        assert m.run("info status") == "VM status: running\r\n"
        m.sock.sendall(b"quit\r")
        r = vm.wait(timeout=10)
    assert r.returncode == 0, r.describe()


def test_nographic_console_and_monitor_share_the_terminal(counter_kernel):
    """-nographic: COM1 has the terminal; C-a c brings the monitor, C-a c
    again goes back, C-a h lists the keys, C-a x quits."""
    vm = VMProcess([vireo_binary(), *TCG, "-kernel", counter_kernel,
                    "-nographic"])
    with vm:
        assert vm.expect("READY", timeout=20), vm.output
        vm.send("\x01h")
        assert vm.expect(r"C-a c\s+switch between console and monitor",
                         timeout=10), vm.output
        vm.send("\x01c")
        assert vm.expect(r"(?s)monitor - type 'help'.*\(qemu\) ", timeout=10), \
            vm.output
        vm.send("info status\r")
        assert vm.expect("VM status: running", timeout=10), vm.output
        vm.send("\x01c")
        vm.send("\x01x")
        r = vm.wait(timeout=10)
    assert r.returncode == 0, r.describe()
