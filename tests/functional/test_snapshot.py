"""Internal snapshots without a guest to run: savevm, loadvm, delvm, info
snapshots and the QMP snapshot jobs on a stopped VM (-S, the software CPU),
checked against qemu-img's view of the images and QEMU's messages; what a
snapshot cannot be taken or loaded from gets QEMU's error, and a VM state
that does not fit this VM or is corrupt is refused. test_migration.py runs
savevm/loadvm with a busy Debian guest.
"""

import struct
import subprocess

import pytest

from qmp import QMPClient
from vmrun import VMProcess, run_vm, vireo_binary

BASE = ["-M", "pc", "-accel", "tcg", "-S", "-display", "none",
        "-nodefaults"]


def qemu_img(*args, check=True):
    return subprocess.run(["qemu-img", *map(str, args)], check=check,
                          capture_output=True, text=True, timeout=60)


def image(tmp_path, name="disk.qcow2", fmt="qcow2"):
    path = tmp_path / name
    qemu_img("create", "-f", fmt, path, "16M")
    return path


def drive(path, fmt="qcow2", extra=""):
    return ["-drive", f"file={path},format={fmt},if=virtio{extra}"]


class VM:
    count = 0

    def __init__(self, tmp_path, *extra, mem=32):
        VM.count += 1
        sock = tmp_path / f"qmp{VM.count}.sock"
        self.vm = VMProcess([vireo_binary(), *BASE, "-m", str(mem), "-qmp",
                             f"unix:{sock},server=on,wait=off", *extra],
                            stdin=False)
        self.qmp = QMPClient(sock)

    def hmp(self, line):
        return self.qmp.hmp(line).replace("\r\n", "\n")

    def status(self):
        return self.qmp.cmd("query-status")["status"]

    def close(self):
        self.qmp.cmd("quit")
        self.vm.wait(timeout=30)
        self.qmp.close()


@pytest.fixture
def vm_on(tmp_path):
    vms = []

    def start(*extra, **kw):
        vms.append(VM(tmp_path, *extra, **kw))
        return vms[-1]
    yield start
    for v in vms:
        if v.vm.proc.poll() is None:
            v.vm.kill()


def snapshot_rows(path):
    """(tag, VM SIZE) of each row of qemu-img snapshot -l."""
    out = qemu_img("snapshot", "-U", "-l", path).stdout
    rows = []
    for line in out.splitlines()[2:]:
        f = line.split()
        rows.append((f[1], " ".join(f[2:4])))
    return rows


def test_savevm_needs_a_disk_that_keeps_snapshots(tmp_path, vm_on):
    v = vm_on()
    assert v.hmp("savevm a") == \
        "Error: no block device can store vmstate for snapshot\n"
    assert v.hmp("info snapshots") == \
        "no block device can store vmstate for snapshot\n"
    raw = image(tmp_path, "r.raw", "raw")
    v = vm_on(*drive(image(tmp_path)), *drive(raw, "raw"))
    assert v.hmp("savevm a") == \
        "Error: Device 'virtio1' is writable but does not support " \
        "snapshots\n"
    v.close()
    # a read-only disk takes no snapshot and needs none
    v = vm_on(*drive(image(tmp_path, "b.qcow2")),
              *drive(raw, "raw", ",readonly=on"))
    assert v.hmp("savevm a") == ""
    assert v.status() == "prelaunch"


def test_snapshots_listed_as_qemu_img_lists_them(tmp_path, vm_on):
    disk = image(tmp_path)
    v = vm_on(*drive(disk))
    assert v.hmp("info snapshots") == "There is no snapshot available.\n"
    for line in ("savevm a", "savevm b", "savevm a", "delvm nosuch"):
        assert v.hmp(line) == "", line
    info = v.hmp("info snapshots").splitlines()
    assert info[0] == "List of snapshots present on all disks:"
    assert info[1].split() == ["ID", "TAG", "VM", "SIZE", "DATE", "VM",
                               "CLOCK", "ICOUNT"]
    # savevm a again replaced a: b is now the older one
    assert [r.split()[:2] for r in info[2:]] == [["--", "b"], ["--", "a"]]
    assert v.hmp("delvm b") == ""
    v.close()
    rows = snapshot_rows(disk)
    assert [r[0] for r in rows] == ["a"]
    assert rows[0][1] != "0 B", rows
    check = qemu_img("check", disk, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_partial_and_disk_only_snapshots(tmp_path, vm_on):
    d0, d1 = image(tmp_path, "d0.qcow2"), image(tmp_path, "d1.qcow2")
    qemu_img("snapshot", "-c", "only1", d1)
    for d in (d0, d1):
        qemu_img("snapshot", "-c", "disk", d)
    v = vm_on(*drive(d0), *drive(d1))
    info = v.hmp("info snapshots")
    assert "List of partial (non-loadable) snapshots on 'virtio1':" in info
    assert "only1" in info.split("partial")[1]
    assert v.hmp("loadvm only1") == "Error: Snapshot 'only1' does not " \
                                    "exist in one or more devices\n"
    assert v.hmp("loadvm disk") == "Error: This is a disk-only snapshot. " \
                                   "Revert to it offline using qemu-img\n"
    assert v.hmp("loadvm") == "usage: loadvm tag\n"
    assert v.status() == "prelaunch"


def vmstate_cluster(path):
    """Where the first cluster of the first snapshot's VM state is in the
    file (qcow2.txt: the VM state follows the disk in the guest address
    space, from the first L1 entry past it)."""
    with open(path, "rb") as f:
        h = f.read(72)
        cluster_bits = struct.unpack(">I", h[20:24])[0]
        size = struct.unpack(">Q", h[24:32])[0]
        sn_off = struct.unpack(">Q", h[64:72])[0]
        f.seek(sn_off)
        l1_off, l1_size = struct.unpack(">QI", f.read(12))
        shift = cluster_bits + cluster_bits - 3
        index = -(-size >> shift)
        assert index < l1_size
        f.seek(l1_off + 8 * index)
        l2 = struct.unpack(">Q", f.read(8))[0] & 0x00fffffffffffe00
        f.seek(l2)
        return struct.unpack(">Q", f.read(8))[0] & 0x00fffffffffffe00


def test_foreign_or_corrupt_vm_state_refused(tmp_path, vm_on):
    disk = image(tmp_path)
    v = vm_on(*drive(disk))
    assert v.hmp("savevm a") == ""
    v.close()
    # another RAM size: the header says so before anything is loaded
    r = run_vm([vireo_binary(), *BASE, "-m", "64", *drive(disk),
                "-loadvm", "a"], timeout=60)
    assert r.returncode == 1, r.describe()
    assert "-loadvm a: Error while loading VM state:" in r.output, \
        r.describe()
    assert "RAM" in r.output, r.describe()
    # a flipped byte in the stored state: its checksum no longer holds
    with open(disk, "r+b") as f:
        f.seek(vmstate_cluster(disk) + 3000)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x20]))
    v = vm_on(*drive(disk))
    err = v.hmp("loadvm a")
    assert err.startswith("Error: Error while loading VM state:"), err
    # the disks went back, the rest did not: the VM stays stopped
    assert v.status() == "restore-vm"
    assert v.hmp("delvm a") == ""


def test_loadvm_option_errors(tmp_path):
    disk = image(tmp_path)
    r = run_vm([vireo_binary(), *BASE, *drive(disk), "-loadvm", "nosuch"],
               timeout=60)
    assert r.returncode == 1, r.describe()
    assert "-loadvm nosuch: Snapshot 'nosuch' does not exist in one or " \
           "more devices" in r.output, r.describe()
    r = run_vm([vireo_binary(), *BASE, *drive(disk), "-loadvm", "x",
                "-incoming", "defer"], timeout=60)
    assert r.returncode == 1, r.describe()
    assert "-loadvm and -incoming cannot be used together" in r.output, \
        r.describe()


def test_snapshot_jobs(tmp_path, vm_on):
    disk = image(tmp_path)
    v = vm_on(*drive(disk))
    args = {"tag": "s", "vmstate": "virtio0", "devices": ["virtio0"]}
    v.qmp.cmd("snapshot-save", {"job-id": "j1", **args})
    seen = []
    while "concluded" not in seen:
        ev = v.qmp.wait_event("JOB_STATUS_CHANGE", timeout=60)
        assert ev["data"]["id"] == "j1"
        seen.append(ev["data"]["status"])
    assert seen == ["created", "running", "waiting", "pending", "concluded"], \
        v.qmp.cmd("query-jobs")
    assert v.qmp.cmd("query-jobs") == [{
        "id": "j1", "type": "snapshot-save", "status": "concluded",
        "current-progress": 1, "total-progress": 1}]
    rsp = v.qmp.execute("snapshot-save", {"job-id": "j1", **args})
    assert rsp["error"]["desc"] == "Job ID 'j1' already in use"
    rsp = v.qmp.execute("job-cancel", {"id": "j1"})
    assert rsp["error"]["desc"] == \
        "Job 'j1' in state 'concluded' cannot accept command verb 'cancel'"
    v.qmp.cmd("job-dismiss", {"id": "j1"})
    assert v.qmp.wait_event("JOB_STATUS_CHANGE")["data"] == \
        {"id": "j1", "status": "null"}
    rsp = v.qmp.execute("job-dismiss", {"id": "j1"})
    assert rsp["error"]["desc"] == "Job not found"
    # a vmstate disk outside the list
    d2 = image(tmp_path, "d2.qcow2")
    v.close()
    v = vm_on(*drive(disk), *drive(d2))
    v.qmp.cmd("snapshot-load", {"job-id": "j2", "tag": "s",
                                "vmstate": "virtio1",
                                "devices": ["virtio0"]})
    while v.qmp.wait_event("JOB_STATUS_CHANGE")["data"]["status"] != \
            "concluded":
        pass
    job = v.qmp.cmd("query-jobs")[0]
    assert job["status"] == "concluded"
    assert job["error"] == "vmstate block device 'virtio1' does not " \
                           "belong to the snapshot device list"
    rsp = v.qmp.execute("snapshot-delete", {"job-id": "j3", "tag": "s"})
    assert "devices" in rsp["error"]["desc"], rsp
    # saved by a VM with one disk: this one has another device
    v.qmp.cmd("snapshot-load", {"job-id": "j4", "tag": "s",
                                "vmstate": "virtio0",
                                "devices": ["virtio0"]})
    while v.qmp.wait_event("JOB_STATUS_CHANGE")["data"]["status"] != \
            "concluded":
        pass
    assert "the devices differ" in v.qmp.cmd("query-jobs")[1]["error"]
    assert v.status() == "restore-vm"
