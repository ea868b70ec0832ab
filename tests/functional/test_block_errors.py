"""Host I/O errors under the drive's werror= policy, with the real guest:
two raw images on a small tmpfs that fills up. The first drive has
werror=report, so the guest's write fails and QMP reports BLOCK_IO_ERROR
with action "report"; the second keeps QEMU's default (enospc): the VM
stops in the io-error state, and once the test made room and sent cont,
the held requests run again and the guest's data reaches the file intact.
"""

import hashlib
import re
import subprocess

import pytest

from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess

PATTERN_MB = 4
GUEST_CMD = (
    "disk() { for d in /sys/block/vd*; do "
    "[ $(cat $d/serial) = $1 ] && echo /dev/${d##*/}; done; }; "
    f"dd if=/dev/urandom of=/p bs=1M count={PATTERN_MB} 2>/dev/null; "
    "echo PATTERN $(sha256sum < /p); "
    "dd if=/p of=$(disk report) bs=1M oflag=direct 2>/dev/null "
    "&& echo REPORT-WRITE ok || echo REPORT-WRITE failed; "
    "dd if=/p of=$(disk stop) bs=1M oflag=direct conv=fsync 2>/dev/null "
    "&& echo STOP-WRITE ok || echo STOP-WRITE failed")


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs",
                        str(mnt)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


@pytest.mark.slow
def test_werror_report_and_enospc_stop_then_cont(vireo_binary, debian_guest,
                                                 tmp_path, small_tmpfs):
    sock = tmp_path / "qmp.sock"
    drives = []
    for name, policy in [("report", ",werror=report"), ("stop", "")]:
        img = small_tmpfs / f"{name}.img"
        with open(img, "wb") as f:
            f.truncate(64 << 20)        # sparse: the tmpfs fills on writes
        drives += ["-drive", f"file={img},format=raw,if=none,id={name}"
                   f"{policy}",
                   "-device", f"virtio-blk-pci,drive={name},serial={name}"]
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      f'console=ttyS0 vireo.task=cmd vireo.cmd="{GUEST_CMD}"'
                      ) + drives + ["-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm, QMPClient(sock) as c:
        ev = c.wait_event("BLOCK_IO_ERROR", timeout=TIMEOUT)
        assert ev["data"]["device"] == "report", ev
        assert ev["data"]["action"] == "report", ev
        assert ev["data"]["operation"] == "write", ev
        assert ev["data"]["nospace"] is True, ev
        while True:
            ev = c.wait_event("BLOCK_IO_ERROR", timeout=TIMEOUT)
            if ev["data"]["device"] == "stop":
                break
        assert ev["data"]["action"] == "stop", ev
        c.wait_event("STOP", timeout=30)
        status = c.cmd("query-status")
        assert status["status"] == "io-error" and not status["running"]
        assert "REPORT-WRITE failed" in vm.output, vm.output

        # room on the host's disk, then cont: the held writes go through
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)],
                       check=True)
        c.cmd("cont")
        c.wait_event("RESUME", timeout=10)
        assert vm.expect("STOP-WRITE ok", timeout=TIMEOUT), vm.output
        r = vm.wait(timeout=TIMEOUT)
    assert r.returncode == 0, r.describe()
    want = re.search(r"PATTERN ([0-9a-f]{64})", r.output)
    assert want, r.describe()
    data = (small_tmpfs / "stop.img").read_bytes()[:PATTERN_MB << 20]
    assert hashlib.sha256(data).hexdigest() == want.group(1)
