"""The host side of test_virtio_net_tap.py, run as
`unshare --net python3 netns_tap_helper.py --blob F --result F -- vireo ...`
in a network namespace of its own.

It creates tap0 (192.168.76.1/24) in that namespace, serves the blob over
HTTP on 192.168.76.1:8080, takes one upload on 192.168.76.1:5001 (hashes
it and answers `UPLOAD <sha256> <bytes>` before closing), watches tap0 with
a packet socket for the largest frame in each direction, then runs the
vireo command line given after `--` and waits for it. When vireo exits it
writes what it saw as JSON to --result and exits with vireo's status.

Nothing outlives it: the namespace, and with it tap0, goes away with the
last process in it (this one and vireo), and both die with their parent
(PR_SET_PDEATHSIG) if the test is killed. Exit status 77 means the tap
could not be set up here (the test skips).
"""

import argparse
import ctypes
import functools
import hashlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading

TAP = "tap0"
HOST_ADDR = "192.168.76.1"
HTTP_PORT = 8080
UPLOAD_PORT = 5001
PR_SET_PDEATHSIG = 1
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SETUP_FAILED = 77


def log(msg):
    print(f"netns-tap-helper: {msg}", file=sys.stderr, flush=True)


def die_with_parent():
    """SIGKILL this process when the one that started it exits."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def set_up_tap():
    """lo and tap0 up, 192.168.76.1/24 on tap0; False (logged) on error."""
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "tuntap", "add", "dev", TAP, "mode", "tap",
                 "vnet_hdr"],
                ["ip", "addr", "add", f"{HOST_ADDR}/24", "dev", TAP],
                ["ip", "link", "set", TAP, "up"]):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            log(f"TAP-SETUP-FAILED: {' '.join(cmd)}: "
                f"{p.stderr.strip() or p.returncode}")
            return False
    return True


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, fmt, *args):
        QuietHandler.requests.append(fmt % args)


def serve_upload(listener, result):
    """Hashes one connection's bytes until EOF, answers with the hash."""
    conn, peer = listener.accept()
    with conn:
        h = hashlib.sha256()
        n = 0
        while chunk := conn.recv(1 << 16):
            h.update(chunk)
            n += len(chunk)
        result.update(sha256=h.hexdigest(), bytes=n, peer=peer[0])
        conn.sendall(f"UPLOAD {h.hexdigest()} {n}\n".encode())


def watch_frames(sock, stats):
    """Largest frame and frames above an Ethernet MTU, per direction, as a
    packet socket on tap0 sees them (offloaded segments stay whole)."""
    buf = bytearray(256)
    while True:
        try:
            n, addr = sock.recvfrom_into(buf, len(buf), socket.MSG_TRUNC)
        except OSError:
            return
        d = stats["to_guest" if addr[2] == PACKET_OUTGOING else "from_guest"]
        d["frames"] += 1
        d["max"] = max(d["max"], n)
        d["over_mtu"] += n > 1514


def tap_counters():
    """tap0's counters from /proc/net/dev (this namespace's; /sys still
    shows the namespace that mounted it)."""
    rx = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped")
    tx = ("tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, values = line.partition(":")
            if name.strip() == TAP:
                v = [int(x) for x in values.split()]
                return dict(zip(rx, v[0:4])) | dict(zip(tx, v[8:12]))
    return {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blob", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("vireo", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.vireo[1:] if args.vireo[:1] == ["--"] else args.vireo

    die_with_parent()
    if os.getppid() == 1:
        return 1            # the parent is already gone
    if not set_up_tap():
        return SETUP_FAILED

    handler = functools.partial(QuietHandler,
                                directory=os.path.dirname(args.blob))
    httpd = http.server.ThreadingHTTPServer((HOST_ADDR, HTTP_PORT), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    upload = {}
    listener = socket.create_server((HOST_ADDR, UPLOAD_PORT))
    threading.Thread(target=serve_upload, args=(listener, upload),
                     daemon=True).start()

    frames = {d: {"frames": 0, "max": 0, "over_mtu": 0}
              for d in ("to_guest", "from_guest")}
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                            socket.htons(ETH_P_ALL))
    sniffer.bind((TAP, 0))
    threading.Thread(target=watch_frames, args=(sniffer, frames),
                     daemon=True).start()

    log(f"{TAP} {HOST_ADDR}/24 up; http :{HTTP_PORT}, upload :{UPLOAD_PORT}")
    # vireo keeps our stdin/stdout/stderr (the test's pipes) and process
    # group, and dies with us.
    vm = subprocess.Popen(cmd, preexec_fn=die_with_parent)
    signal.signal(signal.SIGTERM,
                  lambda *_: vm.send_signal(signal.SIGTERM))
    status = vm.wait()

    result = {"vireo_status": status, "http_requests": QuietHandler.requests,
              "upload": upload, "frames": frames, "tap": tap_counters()}
    with open(args.result, "w") as f:
        json.dump(result, f, indent=1)
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
