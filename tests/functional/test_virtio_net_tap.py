"""virtio-net-pci over -netdev tap with the real guest, in a network
namespace the test creates (unshare --net, see netns_tap_helper.py): tap0
is 192.168.76.1/24 on the host side, the guest takes 192.168.76.2/24.

The guest brings the link up, downloads a random file over HTTP from the
host side and checks its sha256 (receive path, with the tap's segmentation
and checksum offloads the driver accepted), and uploads a random payload
to a listener that hashes it (transmit path, with the guest's TSO). That
the offloads were really negotiated and used shows twice: in the feature
bits the guest's driver accepted, and in frames larger than an Ethernet
MTU crossing tap0 in both directions (a packet socket on the tap sees an
offloaded TCP segment whole).

Skips with the reason when this machine cannot make a network namespace
with a tap device in it (not root, no unshare/ip, no /dev/net/tun).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess

HELPER = Path(__file__).resolve().parent / "netns_tap_helper.py"
GUEST_ADDR = "192.168.76.2"
HOST_ADDR = "192.168.76.1"
HTTP_PORT = 8080        # the helper's; the namespace is ours alone
UPLOAD_PORT = 5001
PAYLOAD_MIB = 4
MAC = "52:54:00:ab:cd:76"

# virtio 1.2 section 5.1.3: bits the driver must have accepted over tap
FEATURES = {"CSUM": 0, "GUEST_CSUM": 1, "GUEST_TSO4": 7, "HOST_TSO4": 11,
            "MRG_RXBUF": 15, "STATUS": 16}


def tap_netns_unavailable():
    """None when a tap can be made in a new network namespace here, else
    why not."""
    for tool in ("unshare", "ip"):
        if not shutil.which(tool):
            return f"`{tool}` is not installed"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun does not exist"
    try:
        p = subprocess.run(
            ["unshare", "--net", "sh", "-c",
             "ip tuntap add dev tap0 mode tap vnet_hdr && "
             "ip link set tap0 up"],
            capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare --net failed: {e}"
    if p.returncode != 0:
        return ("cannot create a tap device in a new network namespace "
                f"(unshare --net ... ip tuntap add): {p.stderr.strip()}")
    return None


@pytest.fixture(scope="module")
def tap_netns():
    why = tap_netns_unavailable()
    if why:
        pytest.skip(f"needs a tap device in a network namespace: {why}")


def guest_command():
    """What the guest runs; no double quotes (vireo.cmd="...")."""
    return (
        "ip link set eth0 up; "
        f"ip addr add {GUEST_ADDR}/24 dev eth0; "
        "i=0; while [ $(cat /sys/class/net/eth0/operstate) != up ] && "
        "[ $i -lt 100 ]; do usleep 100000; i=$((i+1)); done; "
        "echo LINK $(cat /sys/class/net/eth0/operstate) "
        "carrier=$(cat /sys/class/net/eth0/carrier); "
        "echo FEATURES $(cat /sys/class/net/eth0/device/features); "
        f"echo GOT $(wget -q -O - http://{HOST_ADDR}:{HTTP_PORT}/blob | "
        "sha256sum); "
        f"dd if=/dev/urandom of=/tmp/up bs=64k count={PAYLOAD_MIB * 16} "
        "2>/dev/null; "
        "echo SENT $(sha256sum /tmp/up) $(wc -c </tmp/up); "
        f"echo REPLY $(nc {HOST_ADDR} {UPLOAD_PORT} </tmp/up); "
        "echo DONE-$((6*7))")


def guest_line(output, word):
    """The words after `word` on the guest's line that starts with it."""
    m = re.search(rf"^{word} (.*?)\r?$", output, re.M)
    return m.group(1).split() if m else None


@pytest.mark.slow
def test_virtio_net_pci_tap_download_upload_offloads(vireo_binary,
                                                     debian_guest, tap_netns,
                                                     tmp_path):
    blob = os.urandom(PAYLOAD_MIB << 20)
    want = hashlib.sha256(blob).hexdigest()
    www = tmp_path / "www"
    www.mkdir()
    (www / "blob").write_bytes(blob)
    result_file = tmp_path / "result.json"

    vireo = guest_args(vireo_binary, debian_guest, "pc", 1,
                       "console=ttyS0 vireo.task=cmd "
                       f'vireo.cmd="{guest_command()}"') + \
        ["-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
         "-device", f"virtio-net-pci,netdev=n0,mac={MAC}"]
    args = ["unshare", "--net", sys.executable, HELPER,
            "--blob", www / "blob", "--result", result_file, "--", *vireo]
    with VMProcess(args) as vm:
        done = vm.expect(r"VIREO-CMD-EXIT status=\d+", timeout=TIMEOUT)
        r = vm.wait(timeout=60 if done else 1)
    out = r.output
    assert "TAP-SETUP-FAILED" not in out, r.describe()
    assert done, r.describe()
    assert "DONE-42" in out, r.describe()

    # the link came up
    assert guest_line(out, "LINK") == ["up", "carrier=1"], r.describe()
    # the driver accepted the offloads Vireo offers over tap
    features = guest_line(out, "FEATURES")
    assert features and len(features[0]) >= 32, r.describe()
    missing = [name for name, bit in FEATURES.items()
               if features[0][bit] != "1"]
    assert not missing, f"not negotiated: {missing}\n{r.describe()}"
    # receive: the file arrived intact
    assert guest_line(out, "GOT") == [want, "-"], r.describe()
    # transmit: the host got what the guest sent, byte for byte
    sent = guest_line(out, "SENT")
    assert sent and sent[2] == str(PAYLOAD_MIB << 20), r.describe()
    assert r.returncode == 0, r.describe()
    assert "VIREO-CMD-EXIT status=0" in out, r.describe()

    result = json.loads(result_file.read_text())
    print(f"host side: {json.dumps(result)}")
    upload = result["upload"]
    assert upload.get("peer") == GUEST_ADDR, result
    assert upload["bytes"] == PAYLOAD_MIB << 20, result
    assert upload["sha256"] == sent[0], result
    assert guest_line(out, "REPLY") == ["UPLOAD", sent[0], sent[2]], \
        r.describe()
    assert any("GET /blob" in req and " 200 " in req
               for req in result["http_requests"]), result

    # the offloads were used, not only negotiated: whole TCP segments
    # larger than the MTU went through tap0 both ways
    frames = result["frames"]
    assert frames["to_guest"]["over_mtu"] > 0, \
        f"no TSO/GSO frame reached the guest: {result}"
    assert frames["from_guest"]["over_mtu"] > 0, \
        f"the guest sent no TSO frame: {result}"
    tap = result["tap"]
    assert tap.get("rx_errors") == 0 and tap.get("tx_errors") == 0, result
