"""Block faults under a real guest: blkdebug (QEMU's fault-injection
filter, -drive file=blkdebug:CONFIG:IMAGE and -blockdev driver=blkdebug
with inline rules) makes chosen requests fail, and the drive's
werror=/rerror= decides what the guest sees. One Debian guest boot (a shell
on the serial console) serves every check of the module:

- werror=stop: the VM pauses in io-error with BLOCK_IO_ERROR; the once=on
  rule has fired, so cont retries the write and it reaches the image;
- werror/rerror=report: the guest's dd fails, its kernel logs the I/O
  error, and the disk goes on serving other sectors (virtio-blk and IDE);
- ENOSPC on a small tmpfs under a qcow2 image: the VM pauses with
  nospace, and after the test makes room, cont completes the write with
  the image consistent and no data lost;
- a backing file deleted while the guest runs keeps serving its data; one
  whose reads fail (blkdebug under the backing node) fails the guest's
  read as rerror says; one missing at open is a clear error.
"""

import hashlib
import os
import re
import shutil
import subprocess

import pytest

from qmp import QMPClient
from test_debian_guest import TIMEOUT, guest_args
from vmrun import VMProcess

MIB = 1 << 20
PROMPT = r"vireo-guest:/# "
CMD_TIMEOUT = 180       # one shell command, on a busy machine
SHELL_SETUP = (
    "disk() { for d in /sys/block/vd*; do "
    "[ \"$(cat $d/serial)\" = $1 ] && echo /dev/${d##*/}; done; }\n")

BACKING_PATTERN = b"VIREO-BACKING-OK" * 256     # 4 KiB


def qemu_img():
    tool = shutil.which("qemu-img")
    if not tool:
        pytest.skip("qemu-img is needed to make and check the images")
    return tool


def write_conf(path, *rules):
    """A blkdebug config file of [inject-error] sections."""
    text = ""
    for rule in rules:
        text += "[inject-error]\n" + "".join(
            f'{k} = "{v}"\n' for k, v in rule.items())
    path.write_text(text)
    return path


class Guest:
    """The shared VM: its process, QMP and a counter for command markers."""

    def __init__(self, vm, qmp, files):
        self.vm = vm
        self.qmp = qmp
        self.files = files
        self.n = 0

    def start(self, cmd):
        """Types cmd; returns the marker whose line carries its status."""
        self.n += 1
        marker = f"@@DONE{self.n}"
        self.vm.send(f"{cmd}; echo {marker} $?\n")
        return marker

    def status(self, marker, timeout=CMD_TIMEOUT):
        m = self.vm.expect(rf"{marker} (\d+)", timeout=timeout)
        assert m, self.vm.output[-3000:]
        return int(m.group(1))

    def run(self, cmd, timeout=CMD_TIMEOUT):
        return self.status(self.start(cmd), timeout)

    def out(self, cmd, timeout=CMD_TIMEOUT):
        """cmd's output, between two markers of its own."""
        self.n += 1
        tag = f"@@OUT{self.n}"
        self.vm.send(f"echo {tag}-A; {cmd}; echo {tag}-B\n")
        m = self.vm.expect(rf"(?s)^{tag}-A\r?\n(.*?)^{tag}-B",
                           timeout=timeout)
        assert m, self.vm.output[-3000:]
        return m.group(1).decode(errors="replace")

    def take_io_errors(self, device=None, node=None):
        """The BLOCK_IO_ERRORs of one drive received so far, taken off the
        list of pending events."""
        self.qmp.cmd("query-status")    # collects the events sent so far
        evs = [e for e in self.qmp.events if e["event"] == "BLOCK_IO_ERROR"
               and (device is None or e["data"]["device"] == device)
               and (node is None or e["data"].get("node-name") == node)]
        self.qmp.events = [e for e in self.qmp.events if e not in evs]
        return evs


@pytest.fixture(scope="module")
def tmpfs_dir(tmp_path_factory):
    """A 1 MiB tmpfs, to fill up; None when this host cannot mount one."""
    mnt = tmp_path_factory.mktemp("small-fs")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                        str(mnt)], capture_output=True, text=True)
    if r.returncode:
        yield None
        return
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


@pytest.fixture(scope="module")
def guest(vireo_binary, debian_guest, tmp_path_factory, tmpfs_dir):
    img = qemu_img()
    d = tmp_path_factory.mktemp("faults")
    files = {"dir": d}
    args = []

    # werror=stop, a once=on write error at 2 MiB, over a config file
    stop = d / "stop.img"
    stop.write_bytes(b"")
    os.truncate(stop, 8 * MIB)
    conf = write_conf(d / "stop.conf", {"event": "write_aio", "errno": 5,
                                        "sector": 4096, "once": "on"})
    args += ["-drive", f"file=blkdebug:{conf}:{stop},format=raw,if=none,"
             "id=stop,werror=stop,rerror=stop,cache=none",
             "-device", "virtio-blk-pci,drive=stop,serial=stop"]
    files["stop"] = stop

    # -blockdev with inline rules: sector 2048 fails reads and writes for
    # good; the anonymous backend keeps QEMU's report defaults for EIO
    rep = d / "rep.img"
    rep.write_bytes(b"")
    os.truncate(rep, 8 * MIB)
    args += ["-blockdev",
             "driver=raw,node-name=rep,file.driver=blkdebug,"
             f"file.image.driver=file,file.image.filename={rep},"
             "file.inject-error.0.event=write_aio,"
             "file.inject-error.0.sector=2048,"
             "file.inject-error.1.event=read_aio,"
             "file.inject-error.1.sector=2048",
             "-device", "virtio-blk-pci,drive=rep,serial=rep"]
    files["rep"] = rep

    # qcow2 over blkdebug: writing its first new L2 table fails once
    meta = d / "meta.qcow2"
    subprocess.run([img, "create", "-q", "-f", "qcow2", str(meta), "64M"],
                   check=True)
    mconf = write_conf(d / "meta.conf", {"event": "l2_alloc_write",
                                         "errno": 5, "once": "on"})
    args += ["-drive", f"file=blkdebug:{mconf}:{meta},format=qcow2,"
             "if=none,id=meta,werror=stop",
             "-device", "virtio-blk-pci,drive=meta,serial=meta"]
    files["meta"] = meta

    # IDE, rerror/werror=report, every read at 1 MiB fails with EIO
    ide = d / "ide.img"
    ide.write_bytes(b"")
    os.truncate(ide, 8 * MIB)
    iconf = write_conf(d / "ide.conf", {"event": "read_aio",
                                        "sector": 2048})
    args += ["-drive", f"file=blkdebug:{iconf}:{ide},format=raw,if=none,"
             "id=ided,rerror=report,werror=report",
             "-device", "ide-hd,drive=ided"]

    # qcow2 on a tmpfs that fills up; werror is QEMU's default (enospc)
    if tmpfs_dir is not None:
        q = tmpfs_dir / "full.qcow2"
        subprocess.run([img, "create", "-q", "-f", "qcow2", str(q), "64M"],
                       check=True)
        args += ["-drive", f"file={q},format=qcow2,if=none,id=nospc",
                 "-device", "virtio-blk-pci,drive=nospc,serial=nospc"]
        files["nospc"] = q
        files["tmpfs"] = tmpfs_dir

    # an overlay whose raw backing file the test deletes
    base = d / "base.raw"
    base.write_bytes(BACKING_PATTERN * 2048)              # 8 MiB
    ov = d / "ov.qcow2"
    subprocess.run([img, "create", "-q", "-f", "qcow2", "-b", str(base),
                    "-F", "raw", str(ov)], check=True)
    args += ["-drive", f"file={ov},format=qcow2,if=none,id=gone",
             "-device", "virtio-blk-pci,drive=gone,serial=gone"]
    files["base"] = base

    # an overlay whose backing node fails reads at 2 MiB (a backing file
    # on a failing disk): -blockdev, blkdebug under the backing's raw node
    base2 = d / "base2.raw"
    base2.write_bytes(BACKING_PATTERN * 2048)
    ov2 = d / "ov2.qcow2"
    subprocess.run([img, "create", "-q", "-f", "qcow2", "-b", str(base2),
                    "-F", "raw", str(ov2)], check=True)
    args += ["-blockdev", f"driver=file,node-name=bfile,filename={base2},"
             "read-only=on",
             "-blockdev", "driver=raw,node-name=bbase,read-only=on,"
             "file.driver=blkdebug,file.image=bfile,"
             "file.inject-error.0.event=read_aio,"
             "file.inject-error.0.sector=4096",
             "-blockdev", "driver=qcow2,node-name=bov,file.driver=file,"
             f"file.filename={ov2},backing=bbase",
             "-device", "virtio-blk-pci,drive=bov,serial=bov"]

    sock = d / "qmp.sock"
    args = guest_args(vireo_binary, debian_guest, "pc", 1,
                      "console=ttyS0 vireo.task=shell") + args + \
        ["-qmp", f"unix:{sock},server=on,wait=off"]
    with VMProcess(args) as vm:
        assert vm.expect(PROMPT, timeout=TIMEOUT), vm.output[-3000:]
        with QMPClient(sock) as qmp:
            g = Guest(vm, qmp, files)
            vm.send(SHELL_SETUP)
            assert g.run("true") == 0
            yield g
            vm.send("poweroff -f\n")
            vm.wait(timeout=30)


def test_werror_stop_pauses_and_cont_completes_the_write(guest):
    g = guest
    # 1 MiB of random data at 2 MiB: its first request covers sector 4096
    assert g.run("dd if=/dev/urandom of=/p bs=64k count=16 2>/dev/null") == 0
    want = re.search(r"[0-9a-f]{64}", g.out("sha256sum /p")).group(0)
    marker = g.start("dd if=/p of=$(disk stop) bs=64k seek=32 "
                     "oflag=direct conv=fsync 2>/dev/null")
    ev = g.qmp.wait_event("BLOCK_IO_ERROR", timeout=CMD_TIMEOUT)
    assert ev["data"]["device"] == "stop", ev
    assert ev["data"]["operation"] == "write", ev
    assert ev["data"]["action"] == "stop", ev
    assert ev["data"]["nospace"] is False, ev
    assert ev["data"]["reason"] == "Input/output error", ev
    assert ev["data"]["node-name"], ev
    g.qmp.wait_event("STOP", timeout=30)
    status = g.qmp.cmd("query-status")
    assert status["status"] == "io-error" and not status["running"], status

    # the rule fired once and is gone: the held request goes through
    g.qmp.cmd("cont")
    g.qmp.wait_event("RESUME", timeout=10)
    assert g.status(marker) == 0
    data = g.files["stop"].read_bytes()[2 * MIB:3 * MIB]
    assert hashlib.sha256(data).hexdigest() == want
    assert g.take_io_errors("stop") == []       # no second failure


def check_qcow2(q, workdir, offset, length, want):
    """q is consistent (leaks at most) and holds data hashing to want at
    offset, as another reader sees it (-U: the VM still has it open; the
    guest's fsync wrote the metadata back)."""
    img = qemu_img()
    r = subprocess.run([img, "check", "-U", str(q)], capture_output=True,
                       text=True)
    # clean, or clusters leaked by the failed allocation (harmless)
    assert r.returncode == 0 or (r.returncode == 3 and
                                 "leaked clusters" in r.stdout), \
        r.stdout + r.stderr
    assert "ERROR" not in r.stdout, r.stdout
    raw = workdir / (q.name + ".raw")
    subprocess.run([img, "convert", "-U", "-O", "raw", str(q), str(raw)],
                   check=True)
    with open(raw, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    raw.unlink()
    assert hashlib.sha256(data).hexdigest() == want


def test_qcow2_metadata_error_stops_and_cont_retries(guest):
    g = guest
    assert g.run("dd if=/dev/urandom of=/m bs=64k count=2 2>/dev/null") == 0
    want = re.search(r"[0-9a-f]{64}", g.out("sha256sum /m")).group(0)
    marker = g.start("dd if=/m of=$(disk meta) bs=64k seek=64 "
                     "oflag=direct conv=fsync 2>/dev/null")
    ev = g.qmp.wait_event("BLOCK_IO_ERROR", timeout=CMD_TIMEOUT)
    assert ev["data"]["device"] == "meta", ev
    assert ev["data"]["operation"] == "write", ev
    assert ev["data"]["action"] == "stop", ev
    assert ev["data"]["reason"] == "Input/output error", ev
    g.qmp.wait_event("STOP", timeout=30)
    assert g.qmp.cmd("query-status")["status"] == "io-error"
    g.qmp.cmd("cont")
    g.qmp.wait_event("RESUME", timeout=10)
    assert g.status(marker) == 0
    assert g.take_io_errors("meta") == []
    check_qcow2(g.files["meta"], g.files["dir"], 4 * MIB, 128 << 10, want)


def test_report_the_guest_sees_the_error_and_goes_on(guest):
    g = guest
    g.run("dmesg -c >/dev/null")
    # a write and a read of sector 2048 fail; the guest is told
    assert g.run("dd if=/dev/zero of=$(disk rep) bs=4k seek=256 count=1 "
                 "oflag=direct") != 0
    assert g.run("dd if=$(disk rep) of=/dev/null bs=4k skip=256 count=1 "
                 "iflag=direct") != 0
    # other sectors still work
    assert g.run("dd if=/dev/zero of=$(disk rep) bs=4k seek=512 count=1 "
                 "oflag=direct") == 0
    assert g.run("dd if=$(disk rep) of=/dev/null bs=4k count=1 "
                 "iflag=direct") == 0
    log = g.out("dmesg")
    assert re.search(r"I/O error, dev vd\w+, sector 2048", log), log
    evs = g.take_io_errors(node="rep")
    ops = {(e["data"]["operation"], e["data"]["action"]) for e in evs}
    assert ops == {("write", "report"), ("read", "report")}, evs
    assert all(e["data"]["device"] == "" and
               e["data"]["reason"] == "Input/output error" for e in evs), evs
    assert g.qmp.cmd("query-status")["status"] == "running"


def test_ide_read_error_is_reported_to_the_guest(guest):
    g = guest
    g.run("dmesg -c >/dev/null")
    assert g.run("dd if=/dev/sda of=/dev/null bs=4k skip=256 count=1 "
                 "iflag=direct") != 0
    assert g.run("dd if=/dev/sda of=/dev/null bs=4k count=1 iflag=direct") \
        == 0
    log = g.out("dmesg")
    assert re.search(r"I/O error, dev sda, sector 2048", log), log
    evs = g.take_io_errors(device="ided")
    assert evs and all(e["data"]["operation"] == "read" and
                       e["data"]["action"] == "report" for e in evs), evs
    assert g.qmp.cmd("query-status")["status"] == "running"


def test_enospc_pauses_and_cont_after_room_loses_nothing(guest):
    g = guest
    if "nospc" not in g.files:
        pytest.skip("cannot mount a tmpfs here")
    # 2 MiB into a 1 MiB file system
    assert g.run("dd if=/dev/urandom of=/q bs=64k count=32 2>/dev/null") == 0
    want = re.search(r"[0-9a-f]{64}", g.out("sha256sum /q")).group(0)
    marker = g.start("dd if=/q of=$(disk nospc) bs=64k seek=16 "
                     "oflag=direct conv=fsync 2>/dev/null")
    ev = g.qmp.wait_event("BLOCK_IO_ERROR", timeout=CMD_TIMEOUT)
    assert ev["data"]["device"] == "nospc", ev
    assert ev["data"]["nospace"] is True, ev
    assert ev["data"]["action"] == "stop", ev
    assert ev["data"]["reason"] == "No space left on device", ev
    g.qmp.wait_event("STOP", timeout=30)
    assert g.qmp.cmd("query-status")["status"] == "io-error"

    subprocess.run(["mount", "-o", "remount,size=64m", str(g.files["tmpfs"])],
                   check=True)
    g.qmp.cmd("cont")
    g.qmp.wait_event("RESUME", timeout=10)
    assert g.status(marker) == 0
    g.take_io_errors("nospc")

    # the image is consistent and the data at 1 MiB is what the guest wrote
    check_qcow2(g.files["nospc"], g.files["dir"], MIB, 2 * MIB, want)


def test_backing_file_deleted_while_running_still_serves(guest):
    g = guest
    read = ("dd if=$(disk gone) bs=4k skip=300 count=1 iflag=direct "
            "2>/dev/null | head -c 16; echo")
    assert "VIREO-BACKING-OK" in g.out(read)
    g.files["base"].unlink()
    # the image stays open: the data is still there, nothing crashes
    assert "VIREO-BACKING-OK" in g.out(read)
    assert g.run("dd if=/dev/zero of=$(disk gone) bs=4k seek=300 count=1 "
                 "oflag=direct") == 0
    out = g.out("dd if=$(disk gone) bs=4k skip=300 count=1 iflag=direct "
                "2>/dev/null | tr -d '\\000' | wc -c")
    assert out.split() == ["0"], out      # the overlay's zeros now
    assert g.qmp.cmd("query-status")["status"] == "running"


def test_backing_read_errors_follow_rerror(guest):
    g = guest
    g.run("dmesg -c >/dev/null")
    # 2 MiB is unallocated in the overlay: the read goes to the backing
    # node, whose blkdebug fails it
    assert g.run("dd if=$(disk bov) of=/dev/null bs=4k skip=512 count=1 "
                 "iflag=direct") != 0
    out = g.out("dd if=$(disk bov) bs=4k skip=100 count=1 iflag=direct "
                "2>/dev/null | head -c 16; echo")
    assert "VIREO-BACKING-OK" in out, out
    assert re.search(r"I/O error, dev vd\w+, sector 4096", g.out("dmesg"))
    evs = g.take_io_errors(node="bov")
    assert evs and all(e["data"]["operation"] == "read" and
                       e["data"]["action"] == "report" for e in evs), evs
    assert g.qmp.cmd("query-status")["status"] == "running"


def test_missing_backing_file_at_open_is_a_clear_error(vireo_binary,
                                                       tmp_path):
    img = qemu_img()
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * MIB)
    ov = tmp_path / "ov.qcow2"
    subprocess.run([img, "create", "-q", "-f", "qcow2", "-b", str(base),
                    "-F", "raw", str(ov)], check=True)
    base.unlink()
    r = subprocess.run([str(vireo_binary), "-M", "none", "-drive",
                        f"file={ov},format=qcow2,if=none"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert (f"Could not open backing file: Could not open '{base}': "
            "No such file or directory") in r.stderr, r.stderr


@pytest.mark.parametrize("spec, want", [
    ("blkdebug:{conf}", "blkdebug requires both config file and image path"),
    ("blkdebug:{dir}/none.conf:{img}",
     "Could not read blkdebug config file '{dir}/none.conf': No such file"),
    ("blkdebug:{bad}:{img}", "{bad}:2: Parameter 'event' does not accept "
     "value 'nope'"),
])
def test_bad_blkdebug_configs_are_clear_errors(vireo_binary, tmp_path, spec,
                                               want):
    img = tmp_path / "d.img"
    img.write_bytes(b"\0" * MIB)
    conf = tmp_path / "ok.conf"
    conf.write_text("")
    bad = tmp_path / "bad.conf"
    bad.write_text('[inject-error]\nevent = "nope"\n')
    fill = dict(conf=conf, dir=tmp_path, img=img, bad=bad)
    r = subprocess.run([str(vireo_binary), "-M", "none", "-drive",
                        f"file={spec.format(**fill)},format=raw,if=none"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert want.format(**fill) in r.stderr, r.stderr


def test_drive_driver_blkdebug_points_to_the_forms_that_work(vireo_binary,
                                                             tmp_path):
    r = subprocess.run([str(vireo_binary), "-M", "none", "-drive",
                        "driver=blkdebug,config=x.conf,image.filename=d.img"],
                       capture_output=True, text=True, timeout=30,
                       cwd=tmp_path)
    assert r.returncode == 1, r
    assert "use file=blkdebug:CONFIG:IMAGE,format=raw" in r.stderr, r.stderr


@pytest.mark.parametrize("opts, want", [
    ("file.inject-error.0.errno=5", "Parameter 'inject-error.0.event' is "
     "missing"),
    ("file.inject-error.0.event=read_aio,file.inject-error.0.bogus=1",
     "Parameter 'inject-error.0.bogus' is unexpected"),
    ("file.set-state.0.event=read_aio,file.set-state.0.new_state=x",
     "Parameter 'set-state.0.new_state' expects a number"),
    ("file.align=4096", "blkdebug's parameter 'align' is not supported yet"),
])
def test_bad_blockdev_rules_are_clear_errors(vireo_binary, tmp_path, opts,
                                             want):
    img = tmp_path / "d.img"
    img.write_bytes(b"\0" * MIB)
    r = subprocess.run([str(vireo_binary), "-M", "none", "-blockdev",
                        "driver=raw,node-name=n,file.driver=blkdebug,"
                        f"file.image.driver=file,file.image.filename={img},"
                        + opts], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert want in r.stderr, r.stderr
