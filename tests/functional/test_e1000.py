"""The e1000 (82540EM) with the real guest's driver: Debian's kernel on pc
with `-nic user,model=e1000` loads e1000, gets 10.0.2.15 from slirp's
DHCP, downloads a file from an HTTP server the test runs on the host's
loopback (10.0.2.2 in the guest) and checks its checksum, uploads one back
(large TCP writes: the driver's TSO and checksum offload), and sees the
link go down and up when QMP's set_link pulls the cable. One boot for all
of it."""

import functools
import hashlib
import http.server
import os
import threading

import pytest

from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess, run_vm


def test_nic_model_help_lists_e1000(vireo_binary):
    for opt in (["-nic", "model=help"], ["-net", "nic,model=help"]):
        r = run_vm([vireo_binary, *opt], timeout=30)
        assert r.returncode == 0, r.describe()
        assert "Available NIC models:" in r.output, r.describe()
        assert "\ne1000\n" in r.output, r.describe()


@pytest.mark.parametrize("args,message", [
    (["-net", "user"], "no -net nic left for this backend"),
    (["-net", "nic,model=nope", "-net", "user"], "no NIC model 'nope'"),
    (["-net", "nic,bogus=1"], "invalid parameter 'bogus'"),
    (["-device", "e1000,mac=01:00:00:00:00:01"], "not a unicast MAC"),
    (["-device", "e1000,netdev=nope"], "netdev=nope: no such netdev"),
    (["-device", "e1000,bootindex=1", "-device", "e1000,bootindex=1"],
     "bootindex 1 has already been used"),
    (["-M", "microvm", "-nic", "user,model=e1000"],
     "no NIC model 'e1000' on this machine"),
])
def test_bad_e1000_and_net_options(vireo_binary, args, message):
    """Bad NIC options stop Vireo with an error naming them."""
    r = run_vm([vireo_binary, "-M", "pc", "-accel", "qtest",
                "-display", "none", *args], timeout=30)
    assert r.returncode != 0, r.describe()
    assert message in r.output, r.describe()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_PUT(self):
        n = int(self.headers.get("Content-Length", 0))
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(n - len(data))
            if not chunk:
                break
            data += chunk
        self.server.uploaded = data
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    blob = os.urandom(2 << 20)
    (tmp_path / "blob").write_bytes(blob)
    handler = functools.partial(_Handler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.uploaded = None
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield httpd, hashlib.sha256(blob).hexdigest()
    httpd.shutdown()


@pytest.mark.slow
def test_e1000_dhcp_download_upload_and_link(vireo_binary, debian_guest,
                                             http_server, tmp_path):
    httpd, want = http_server
    port = httpd.server_address[1]
    # busybox wget has no PUT: nc speaks HTTP itself for the upload
    cmd = ("ip link set eth0 up; udhcpc -i eth0 -n -q -s /bin/true; "
           "ip addr add 10.0.2.15/24 dev eth0; "
           "ip route add default via 10.0.2.2; "
           "echo DRIVER-$(basename $(readlink /sys/class/net/eth0/device/"
           "driver)); "
           f"wget -q -O /tmp/blob http://10.0.2.2:{port}/blob; "
           "echo GOT $(sha256sum < /tmp/blob); "
           "(printf 'PUT /up HTTP/1.0\\r\\nContent-Length: %s\\r\\n\\r\\n' "
           "$(wc -c < /tmp/blob); cat /tmp/blob) | "
           f"nc 10.0.2.2 {port} | head -1; "
           "echo UPLOADED-$((6*7)); "
           "echo CARRIER-$(cat /sys/class/net/eth0/carrier); "
           "while [ $(cat /sys/class/net/eth0/carrier) = 1 ]; do sleep 0.2; "
           "done; echo LINK-DOWN-SEEN-$((6*7)); "
           "while [ $(cat /sys/class/net/eth0/carrier) = 0 ]; do sleep 0.2; "
           "done; echo LINK-UP-SEEN-$((6*7))")
    sock = tmp_path / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      f'console=ttyS0 vireo.task=cmd vireo.cmd="{cmd}"') + \
        ["-nic", "user,model=e1000,mac=52:54:00:ab:cd:ef",
         "-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        assert vm.expect("UPLOADED-42", timeout=TIMEOUT), vm.output
        assert "DRIVER-e1000" in vm.output, vm.output
        assert "lease of 10.0.2.15 obtained" in vm.output, vm.output
        assert f"GOT {want}" in vm.output, vm.output
        assert httpd.uploaded is not None, vm.output
        assert hashlib.sha256(httpd.uploaded).hexdigest() == want, vm.output

        # set_link: the guest's carrier follows (LSC interrupt, STATUS.LU)
        assert vm.expect("CARRIER-1", timeout=60), vm.output
        c.cmd("set_link", {"name": "__nic0", "up": False})
        assert vm.expect("LINK-DOWN-SEEN-42", timeout=60), vm.output
        c.cmd("set_link", {"name": "__nic0", "up": True})
        assert vm.expect("LINK-UP-SEEN-42", timeout=60), vm.output
        r = vm.wait(timeout=60)
    assert r.returncode == 0, r.describe()
    assert "VIREO-CMD-EXIT status=0" in r.output, r.describe()
