"""virtio-net over -netdev user with the real guest: DHCP gives it
10.0.2.15, it downloads a file from an HTTP server the test runs on the
host's loopback (10.0.2.2 in the guest) and checks its checksum, and
hostfwd lets the test connect into a listener in the guest. On microvm
(virtio-net-device on virtio-mmio) and pc (virtio-net-pci with MSI-X)."""

import functools
import hashlib
import http.server
import os
import socket
import threading
import time

import pytest

from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
def test_virtio_net_user_dhcp_download_and_hostfwd(vireo_binary,
                                                    debian_guest,
                                                    http_server, machine,
                                                    device):
    http_port, want = http_server
    fwd = free_port()
    cmd = ("ip link set eth0 up; udhcpc -i eth0 -n -q -s /bin/true; "
           "ip addr add 10.0.2.15/24 dev eth0; "
           "ip route add default via 10.0.2.2; "
           f"echo GOT $(wget -q -O - http://10.0.2.2:{http_port}/blob | "
           "sha256sum); echo NC-READY-$((6*7)); "
           "echo hello-from-the-guest | nc -l -p 7777")
    args = guest_args(vireo_binary, debian_guest, machine, 1,
                      f'console=ttyS0 vireo.task=cmd vireo.cmd="{cmd}"') + \
        ["-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{fwd}-:7777",
         "-device", f"{device},netdev=n0,mac=52:54:00:ab:cd:ef"]
    with VMProcess(args) as vm:
        assert vm.expect("NC-READY-42", timeout=TIMEOUT), vm.output
        assert "lease of 10.0.2.15 obtained" in vm.output, vm.output
        assert f"GOT {want}" in vm.output, vm.output
        got = b""
        deadline = time.monotonic() + 30
        while b"hello-from-the-guest" not in got and \
                time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", fwd),
                                              timeout=10) as s:
                    while chunk := s.recv(100):
                        got += chunk
            except OSError:
                time.sleep(0.5)
        assert b"hello-from-the-guest" in got, vm.output
        r = vm.wait(timeout=60)
    assert r.returncode == 0, r.describe()
    assert "VIREO-CMD-EXIT status=0" in r.output, r.describe()
