"""virtio-net over -netdev user with the real guest: DHCP gives it
10.0.2.15, it downloads a file from an HTTP server the test runs on the
host's loopback (10.0.2.2 in the guest) and checks its checksum, and
hostfwd lets the test connect into a listener in the guest, and QMP's
set_link takes the link down and up again, which the guest's driver sees
through a configuration interrupt. On microvm
(virtio-net-device on virtio-mmio) and pc (virtio-net-pci with MSI-X)."""

import functools
import hashlib
import http.server
import os
import socket
import threading
import time

import pytest

from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess, read_tcp_until


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main_thread_cpu_share(pid, seconds):
    """The share of one CPU the process's main thread used over seconds."""
    def ticks():
        with open(f"/proc/{pid}/task/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])    # utime, stime
    t0, c0 = time.monotonic(), ticks()
    time.sleep(seconds)
    return (ticks() - c0) / os.sysconf("SC_CLK_TCK") / \
        (time.monotonic() - t0)


@pytest.fixture
def http_server(tmp_path):
    blob = os.urandom(3 << 20)
    (tmp_path / "blob").write_bytes(blob)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield httpd.server_address[1], hashlib.sha256(blob).hexdigest()
    httpd.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("machine,device", [("microvm", "virtio-net-device"),
                                            ("pc", "virtio-net-pci")])
def test_virtio_net_user_dhcp_download_hostfwd_and_link(vireo_binary,
                                                         debian_guest,
                                                         http_server, machine,
                                                         device, tmp_path):
    http_port, want = http_server
    fwd = free_port()
    cmd = ("ip link set eth0 up; udhcpc -i eth0 -n -q -s /bin/true; "
           "ip addr add 10.0.2.15/24 dev eth0; "
           "ip route add default via 10.0.2.2; "
           f"echo GOT $(wget -q -O - http://10.0.2.2:{http_port}/blob | "
           "sha256sum); echo NC-READY-$((6*7)); "
           "echo hello-from-the-guest | nc -l -p 7777; "
           "echo CARRIER-$(cat /sys/class/net/eth0/carrier); "
           "while [ $(cat /sys/class/net/eth0/carrier) = 1 ]; do sleep 0.2; "
           "done; echo LINK-DOWN-SEEN-$((6*7)); "
           "while [ $(cat /sys/class/net/eth0/carrier) = 0 ]; do sleep 0.2; "
           "done; echo LINK-UP-SEEN-$((6*7))")
    sock = tmp_path / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, machine, 1,
                      f'console=ttyS0 vireo.task=cmd vireo.cmd="{cmd}"') + \
        ["-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{fwd}-:7777",
         "-device", f"{device},netdev=n0,mac=52:54:00:ab:cd:ef",
         "-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert vm.expect("NC-READY-42", timeout=TIMEOUT), vm.output
        assert "lease of 10.0.2.15 obtained" in vm.output, vm.output
        assert f"GOT {want}" in vm.output, vm.output
        # slirp now has sockets (the hostfwd listener): polling them must
        # not wake the main loop again at once (it once spun at 100%)
        busy = main_thread_cpu_share(vm.proc.pid, 2.0)
        assert busy < 0.3, f"main loop {busy:.0%} busy while the guest idles"
        got = read_tcp_until(fwd, b"hello-from-the-guest", timeout=30)
        assert b"hello-from-the-guest" in got, vm.output

        # set_link: the guest's carrier follows the netdev's link
        assert vm.expect("CARRIER-1", timeout=60), vm.output
        c.cmd("set_link", {"name": "n0", "up": False})
        assert vm.expect("LINK-DOWN-SEEN-42", timeout=60), vm.output
        c.cmd("set_link", {"name": "n0", "up": True})
        assert vm.expect("LINK-UP-SEEN-42", timeout=60), vm.output
        r = vm.wait(timeout=60)
    assert r.returncode == 0, r.describe()
    assert "VIREO-CMD-EXIT status=0" in r.output, r.describe()
