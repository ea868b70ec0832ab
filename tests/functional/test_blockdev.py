"""-blockdev, -snapshot and a bare image on the command line, seen through
QMP (query-block, query-blockstats, query-named-block-nodes) and HMP (info
block), with no guest: the qtest accelerator runs no code. Bad -blockdev
lines fail with QEMU's messages and a non-zero exit.
"""

import hashlib
import json
import subprocess

import pytest

from qmp import QMPClient
from vmrun import VMProcess, run_vm, vireo_binary

QEMU_IMG = "/usr/bin/qemu-img"
BASE = ["-M", "pc", "-accel", "qtest", "-display", "none", "-nodefaults"]


def qemu_img(*args):
    return subprocess.run([QEMU_IMG, *map(str, args)], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def images(tmp_path):
    try:
        base = tmp_path / "base.raw"
        qemu_img("create", "-f", "raw", base, "4M")
        top = tmp_path / "disk.qcow2"
        qemu_img("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw",
                 top)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"qemu-img is not usable: {e}")
    return base, top


def start(tmp_path, *extra, cwd=None):
    sock = tmp_path / "qmp.sock"
    vm = VMProcess([vireo_binary(), *BASE, "-qmp",
                    f"unix:{sock},server=on,wait=off", *extra], cwd=cwd,
                   stdin=False)
    return vm, sock


def hmp(c, line):
    """HMP's output through QMP, with QEMU's \r\n line ends as \n."""
    return c.hmp(line).replace("\r\n", "\n")


def only(blocks, **match):
    found = [b for b in blocks
             if all(b.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, blocks)
    return found[0]


@pytest.mark.parametrize("form", ["nested", "two-step"])
def test_blockdev_qcow2_on_virtio_blk(tmp_path, images, form):
    base, top = images
    if form == "nested":
        bd = [f"driver=qcow2,node-name=disk0,file.driver=file,"
              f"file.filename={top}"]
    else:
        bd = [f"driver=file,node-name=f0,filename={top}",
              "driver=qcow2,node-name=disk0,file=f0"]
    args = []
    for b in bd:
        args += ["-blockdev", b]
    vm, sock = start(tmp_path, *args, "-device",
                     "virtio-blk-pci,drive=disk0,id=vd0")
    with vm, QMPClient(sock) as c:
        blocks = c.cmd("query-block")
        b = only(blocks, device="")
        assert b["qdev"]
        ins = b["inserted"]
        assert ins["node-name"] == "disk0"
        assert ins["drv"] == "qcow2"
        assert ins["file"] == str(top)
        assert ins["backing_file"] == "base.raw"
        assert ins["backing_file_depth"] == 1
        assert ins["ro"] is False
        assert ins["detect_zeroes"] == "off"
        assert ins["cache"] == {"writeback": True, "direct": False,
                                "no-flush": False}
        img = ins["image"]
        assert img["format"] == "qcow2"
        assert img["virtual-size"] == 4 << 20
        assert img["cluster-size"] == 65536
        assert img["backing-filename"] == "base.raw"
        assert img["full-backing-filename"] == str(base)
        assert img["backing-image"]["format"] == "raw"
        assert img["backing-image"]["filename"] == str(base)

        stats = c.cmd("query-blockstats")
        s = only(stats, **{"node-name": "disk0"})
        assert s["stats"]["rd_operations"] == 0
        assert s["stats"]["account_failed"] is True
        assert s["parent"]["node-name"] == (
            "f0" if form == "two-step" else s["parent"]["node-name"])
        assert s["backing"]["node-name"]

        names = [n["node-name"] for n in c.cmd("query-named-block-nodes")]
        assert "disk0" in names
        if form == "two-step":
            assert "f0" in names

        out = hmp(c, "info block -n disk0")
        assert out.startswith(f"disk0: {top} (qcow2)\n"), out
        assert "    Backing file:     base.raw (chain depth: 1)\n" in out
        c.cmd("quit")
        assert vm.wait(timeout=10).returncode == 0


def test_blockdev_raw_file_readonly_and_options(tmp_path, images):
    base, _ = images
    vm, sock = start(
        tmp_path, "-blockdev",
        f"driver=file,node-name=f0,filename={base},read-only=on,"
        "aio=threads,cache.direct=off",
        "-blockdev", "driver=raw,node-name=r0,file=f0,read-only=on",
        "-blockdev", f"driver=file,node-name=lone,filename={base},"
        "read-only=on,locking=off",
        "-device", "virtio-blk-pci,drive=r0")
    with vm, QMPClient(sock) as c:
        ins = only(c.cmd("query-block"), device="")["inserted"]
        assert ins["node-name"] == "r0"
        assert ins["drv"] == "raw"
        assert ins["ro"] is True
        assert "backing_file" not in ins
        nodes = {n["node-name"]: n for n in c.cmd("query-named-block-nodes")}
        assert nodes["lone"]["drv"] == "file"
        c.cmd("quit")


def test_drive_shows_in_query_block_and_hmp(tmp_path, images):
    _, top = images
    vm, sock = start(tmp_path, "-drive",
                     f"file={top},if=none,id=hd0,detect-zeroes=on",
                     "-device", "virtio-blk-pci,drive=hd0")
    with vm, QMPClient(sock) as c:
        b = only(c.cmd("query-block"), device="hd0")
        assert b["inserted"]["drv"] == "qcow2"       # probed
        assert b["inserted"]["detect_zeroes"] == "on"
        assert b["io-status"] == "ok"               # werror=enospc default
        assert b["removable"] is False
        node = b["inserted"]["node-name"]
        out = hmp(c, "info block")
        assert out.startswith(f"hd0 ({node}): {top} (qcow2)\n"), out
        assert "    Attached to:      " in out
        assert "    Cache mode:       writeback\n" in out
        assert "    Backing file:     base.raw (chain depth: 1)\n" in out
        assert "    Detect zeroes:    on\n" in out
        out = hmp(c, "info blockstats")
        assert out.startswith("hd0: rd_bytes=0 wr_bytes=0 rd_operations=0 "
                              "wr_operations=0 flush_operations=0 "), out
        c.cmd("quit")


def test_unattached_drive_is_removable(tmp_path, images):
    base, _ = images
    vm, sock = start(tmp_path, "-drive",
                     f"file={base},format=raw,if=none,id=spare")
    with vm, QMPClient(sock) as c:
        b = only(c.cmd("query-block"), device="spare")
        assert b["removable"] is True and b["tray_open"] is False
        assert "qdev" not in b and "io-status" not in b
        out = hmp(c, "info block spare")
        assert "    Removable device: not locked, tray closed\n" in out
        c.cmd("quit")


@pytest.mark.parametrize("line,message", [
    ("node-name=x,filename=F", "Parameter 'driver' is missing"),
    ("driver=vmdk9,node-name=x", "Parameter 'driver' does not accept value "
     "'vmdk9'"),
    ("driver=file,filename=F", "'node-name' must be specified for the root "
     "node"),
    ("driver=file,node-name=x,filename=F,x=1", "Parameter 'x' is unexpected"),
    ("driver=file,node-name=x", "Parameter 'filename' is missing"),
    ("driver=qcow2,node-name=x,file=nope",
     "Cannot find device='nope' nor node-name='nope'"),
    ("driver=file,node-name=x,filename=F,read-only=maybe",
     "Parameter 'read-only' expects 'on' or 'off'"),
    ("driver=file,node-name=x,filename=/nonexistent/img",
     "Could not open '/nonexistent/img': No such file or directory"),
])
def test_bad_blockdev_lines(tmp_path, images, line, message):
    base, _ = images
    line = line.replace("=F", f"={base}")
    r = run_vm([vireo_binary(), *BASE, "-blockdev", line], timeout=20)
    assert r.returncode == 1, r.describe()
    assert f"-blockdev {line}: {message}" in r.output, r.describe()


def test_duplicate_node_and_missing_device_node(tmp_path, images):
    base, _ = images
    r = run_vm([vireo_binary(), *BASE,
                "-blockdev", f"driver=file,node-name=a,filename={base},"
                "read-only=on",
                "-blockdev", f"driver=file,node-name=a,filename={base},"
                "read-only=on"], timeout=20)
    assert r.returncode == 1, r.describe()
    assert "Duplicate nodes with node-name='a'" in r.output, r.describe()

    r = run_vm([vireo_binary(), *BASE,
                "-blockdev", f"driver=file,node-name=a,filename={base}",
                "-device", "virtio-blk-pci,drive=a",
                "-device", "virtio-blk-pci,drive=a"], timeout=20)
    assert r.returncode == 1, r.describe()
    assert "already in use" in r.output, r.describe()


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("how", ["-snapshot", "snapshot=on"])
def test_snapshot_leaves_the_image_alone(tmp_path, images, how):
    base, _ = images
    before = sha256(base)
    extra = ",snapshot=on" if how == "snapshot=on" else ""
    args = ["-drive", f"file={base},format=raw,if=none,id=hd0{extra}",
            "-device", "virtio-blk-pci,drive=hd0"]
    if how == "-snapshot":
        args.insert(0, "-snapshot")
    vm, sock = start(tmp_path, *args)
    with vm, QMPClient(sock) as c:
        ins = only(c.cmd("query-block"), device="hd0")["inserted"]
        assert ins["drv"] == "qcow2"
        assert ins["backing_file"] == str(base)
        assert ins["image"]["backing-image"]["filename"] == str(base)
        c.cmd("quit")
        vm.wait(timeout=10)
    assert sha256(base) == before
    # the overlay was unlinked at once
    assert not list(tmp_path.glob("vl.*"))


def test_bare_image_is_hda(tmp_path, images):
    _, top = images
    sock = tmp_path / "qmp.sock"
    r = None
    vm = VMProcess([vireo_binary(), *BASE, "-qmp",
                    f"unix:{sock},server=on,wait=off", str(top)],
                   stdin=False)
    with vm:
        res = vm.wait(timeout=5) if vm.proc.poll() is not None else None
        if res is None:
            try:
                with QMPClient(sock, timeout=10) as c:
                    b = only(c.cmd("query-block"), device="ide0-hd0")
                    assert b["inserted"]["file"] == str(top)
                    assert b["inserted"]["drv"] == "qcow2"
                    c.cmd("quit")
                    return
            except OSError:
                pass
        r = vm.wait(timeout=10)
    if "has no device for if=ide" in r.output:
        pytest.skip("this build has no IDE controller yet: " +
                    r.output.strip().splitlines()[-1])
    assert False, r.describe()


def test_image_info_matches_qemu_img(tmp_path, images):
    _, top = images
    vm, sock = start(tmp_path, "-drive",
                     f"file={top},if=none,id=hd0,readonly=on")
    with vm, QMPClient(sock) as c:
        mine = only(c.cmd("query-block"), device="hd0")["inserted"]["image"]
        c.cmd("quit")
    theirs = json.loads(qemu_img("info", "-U", "--output=json",
                                 "--backing-chain", top))
    level = mine
    for t in theirs:
        for k, v in t.items():
            if k not in ("actual-size", "dirty-flag"):
                assert level.get(k) == v, (k, level.get(k), v)
        level = level.get("backing-image")
