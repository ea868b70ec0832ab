"""virtio-serial with the real guest on microvm (virtio-serial-device on
virtio-mmio) and pc (virtio-serial-pci): a virtconsole, which Linux makes /dev/hvc0, and a named
virtserialport (/dev/vportNpM, found by its name in /sys/class/virtio-ports),
each on a unix-socket chardev the test connects to. One boot exercises
both directions on both ports: a line the host sends comes back
transformed, a file's checksum the guest prints matches the bytes the host
received (read late, so the guest's output has to wait), host-sent bytes
reach the guest intact, and the host closing and reconnecting shows in the
guest (end of file, then writes flow again).

The -device mistakes a user can make are checked without booting.
"""

import hashlib
import os
import re
import socket
import tempfile
import time

import pytest

import vmrun
from test_debian_guest import TIMEOUT, guest_args

PORT_NAME = "org.vireo.test.port"
GUEST_TO_HOST = 512 * 1024
HOST_TO_GUEST = 256 * 1024


class Shell:
    """Commands typed at the guest's serial shell, each ending with a
    marker that carries its exit status."""

    def __init__(self, vm):
        self.vm = vm
        self.n = 0

    def start(self, cmd):
        """Types cmd; returns the marker to wait for with wait()."""
        self.n += 1
        # the echo of the typed line shows "$?", the output a number
        self.vm.send(f"{cmd}; echo R{self.n}-$?-END\n")
        return self.n

    def wait(self, n, timeout=120):
        m = self.vm.expect(rf"R{n}-(\d+)-END", timeout=timeout)
        assert m is not None, self.vm.output[-4000:]
        return int(m.group(1))

    def run(self, cmd, timeout=120):
        status = self.wait(self.start(cmd), timeout)
        assert status == 0, f"{cmd!r} exited {status}\n" + \
            self.vm.output[-4000:]

    def value(self, tag):
        """The last 'TAG=value' line the guest printed."""
        found = re.findall(rf"^{tag}=(\S+)\r?$", self.vm.output, re.M)
        assert found, f"no {tag}= in the output\n" + self.vm.output[-4000:]
        return found[-1]


def connect(path, timeout=TIMEOUT):
    """A client of the chardev's server socket (retried while Vireo is
    still starting up and has not made it yet)."""
    deadline = time.monotonic() + 30
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            break
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    s.settimeout(timeout)
    return s


def recv_exactly(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(65536, n - len(buf)))
        assert chunk, f"peer closed after {len(buf)} of {n} bytes"
        buf += chunk
    return bytes(buf)


def recv_line(s):
    buf = bytearray()
    while not buf.endswith(b"\n"):
        chunk = s.recv(1)
        assert chunk, f"peer closed after {bytes(buf)!r}"
        buf += chunk
    return bytes(buf)


@pytest.mark.slow
@pytest.mark.parametrize("machine,device",
                         [("microvm", "virtio-serial-device"),
                          ("pc", "virtio-serial-pci")])
def test_virtconsole_and_virtserialport(vireo_binary, debian_guest, machine,
                                        device):
    sockdir = tempfile.mkdtemp(prefix="vser-")   # short: sun_path limit
    con_path = os.path.join(sockdir, "con.sock")
    port_path = os.path.join(sockdir, "port.sock")
    args = guest_args(vireo_binary, debian_guest, machine, 1,
                      "console=ttyS0 vireo.task=shell") + [
        "-chardev", f"socket,id=c0,path={con_path},server=on,wait=off",
        "-chardev", f"socket,id=c1,path={port_path},server=on,wait=off",
        "-device", f"{device},id=vser0",
        "-device", "virtconsole,chardev=c0",
        "-device", f"virtserialport,chardev=c1,name={PORT_NAME},"
                   "bus=vser0.0"]
    with vmrun.VMProcess(args) as vm:
        # the host is there before the guest: its port is open at once
        port = connect(port_path)
        assert vm.expect(r"vireo-guest:/# ", timeout=TIMEOUT), \
            vm.output[-4000:]
        sh = Shell(vm)

        # the named port, by its name; its node from devtmpfs or mknod
        sh.run("for d in /sys/class/virtio-ports/*; do "
               "if [ \"$(cat $d/name 2>/dev/null)\" = " + PORT_NAME +
               " ]; then echo VPORT=${d##*/}; fi; done")
        vport = sh.value("VPORT")
        assert re.fullmatch(r"vport\d+p[1-9]\d*", vport), vport
        dev = f"/dev/{vport}"
        sh.run(f"[ -c {dev} ] || mknod {dev} c "
               f"$(tr : ' ' < /sys/class/virtio-ports/{vport}/dev)")
        sh.run("[ -c /dev/hvc0 ] || mknod /dev/hvc0 c "
               "$(tr : ' ' < /sys/class/tty/hvc0/dev)")

        # a line the host sent before the guest opened the port comes
        # back upper-cased
        port.sendall(b"hello from the host\n")
        sh.run(f"sh -c 'exec 3<>{dev}; read l <&3; "
               f"echo \"echo:$l\" | tr a-z A-Z >&3'")
        assert recv_line(port) == b"ECHO:HELLO FROM THE HOST\n"

        # guest to host: a file and its checksum; the host reads late, so
        # the guest's output waits in the ring for it
        n = sh.start(f"dd if=/dev/urandom of=/tmp/blob bs=1024 "
                     f"count={GUEST_TO_HOST // 1024} 2>/dev/null && "
                     "echo SUM=$(sha256sum /tmp/blob | cut -d' ' -f1) && "
                     f"cat /tmp/blob > {dev}")
        time.sleep(3)
        got = recv_exactly(port, GUEST_TO_HOST)
        assert sh.wait(n) == 0, vm.output[-4000:]
        assert hashlib.sha256(got).hexdigest() == sh.value("SUM")

        # host to guest: more than the guest's buffers hold at once
        data = os.urandom(HOST_TO_GUEST)
        n = sh.start(f"echo RSUM=$(head -c {HOST_TO_GUEST} {dev} | "
                     "sha256sum | cut -d' ' -f1)")
        port.sendall(data)
        assert sh.wait(n) == 0, vm.output[-4000:]
        assert sh.value("RSUM") == hashlib.sha256(data).hexdigest()

        # the host's last words, then it leaves: the guest reads them and
        # then end of file
        n = sh.start(f"cat {dev} > /tmp/last && "
                     "echo LAST=$(tr ' ' _ < /tmp/last)")
        time.sleep(2)
        port.sendall(b"last words\n")
        port.close()
        assert sh.wait(n) == 0, vm.output[-4000:]
        assert sh.value("LAST") == "last_words"

        # a new host connection: the guest's writes reach it
        port = connect(port_path)
        sh.run(f"echo again > {dev}")
        assert recv_line(port) == b"again\n"
        port.close()

        # the console: raw mode so the tty neither echoes nor adds CRs
        con = connect(con_path)
        n = sh.start("sh -c 'exec 3<>/dev/hvc0; stty raw -echo <&3; "
                     "echo hvc-ready >&3; read l <&3; "
                     "echo \"hvc:$l\" | tr a-z A-Z >&3'")
        assert recv_line(con) == b"hvc-ready\n"
        con.sendall(b"ping over hvc\n")
        assert recv_line(con) == b"HVC:PING OVER HVC\n"
        assert sh.wait(n) == 0, vm.output[-4000:]
        con.close()

        vm.send("poweroff -f\n")
        r = vm.wait(timeout=60)
    assert not r.timed_out, r.describe()
    assert r.returncode == 0, r.describe()


def _startup_error(vireo_binary, debian_guest, extra):
    args = [str(vireo_binary), "-M", "microvm", "-accel", "tcg",
            "-kernel", debian_guest["vmlinuz"], "-nographic",
            "-chardev", "null,id=n0", "-chardev", "null,id=n1"] + extra
    r = vmrun.run_vm(args, timeout=30)
    assert not r.timed_out, r.describe()
    assert r.returncode != 0, r.describe()
    return r.output


@pytest.mark.parametrize("extra,message", [
    (["-device", "virtconsole,chardev=n0"],
     "device 'virtconsole': no virtio-serial bus"),
    (["-device", "virtio-serial-device", "-device", "virtserialport"],
     "device 'virtserialport': property 'chardev' is required"),
    (["-device", "virtio-serial-device",
      "-device", "virtserialport,chardev=nope"],
     "chardev 'nope' not found"),
    (["-device", "virtio-serial-device,id=v0",
      "-device", "virtserialport,chardev=n0,bus=v1.0"],
     "bus 'v1.0' not found (virtio-serial buses: v0.0)"),
    (["-device", "virtio-serial-device,max_ports=4",
      "-device", "virtserialport,chardev=n0,nr=4"],
     "nr=4 is out of range"),
    (["-device", "virtio-serial-device",
      "-device", "virtserialport,chardev=n0,nr=3",
      "-device", "virtserialport,chardev=n1,nr=3"],
     "nr=3 is already in use"),
    (["-device", "virtio-serial-device",
      "-device", "virtserialport,chardev=n0,name=x",
      "-device", "virtserialport,chardev=n1,name=x"],
     "a port named 'x' already exists"),
    (["-device", "virtio-serial-device",
      "-device", "virtserialport,chardev=n0",
      "-device", "virtconsole,chardev=n0"],
     "chardev 'n0' is already in use"),
    (["-device", "virtio-serial-device,max_ports=0"],
     "max_ports=0: must be between 1 and 511"),
])
def test_device_errors(vireo_binary, debian_guest, extra, message):
    out = _startup_error(vireo_binary, debian_guest, extra)
    assert message in out, out
